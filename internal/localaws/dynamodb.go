package localaws

import "strings"

// moto's DynamoDB reads an item, evaluates a write's condition and writes it without a lock,
// under a threaded server: two concurrent conditional writes to one item can both succeed, which
// DynamoDB never allows (a condition is evaluated atomically with its write:
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html).
// Filled: the filler forwards DynamoDB's writes one at a time; reads go through at once.

// dynamoWrites are the DynamoDB operations that write (their X-Amz-Target suffix).
var dynamoWrites = map[string]bool{
	"PutItem": true, "UpdateItem": true, "DeleteItem": true, "BatchWriteItem": true, "TransactWriteItems": true,
}

// isDynamoDBWrite reports whether c is a DynamoDB write.
func isDynamoDBWrite(c *call) bool {
	op, ok := strings.CutPrefix(c.target, "DynamoDB_20120810.")
	return ok && dynamoWrites[op]
}
