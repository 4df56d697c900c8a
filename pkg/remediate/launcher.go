package remediate

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// launcher finds who launched an instance: DescribeInstances does not say, the RunInstances
// record in the instance's account does (CloudTrail LookupEvents by resource name). CloudTrail
// delivers records within minutes, so the record may not be there yet: then nil and a note, and
// the key-side check still runs. Only a principal of the instance's own account is accepted.
//
// The lookup is optional: the key side does not need it. When it fails (LookupEvents is limited
// to two requests per second per account and Region, and throttles beyond that:
// https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html), the
// record says the launcher is missing (report.PartLauncher), the key side is checked and fixed
// all the same, and settle decides whether a redelivery retries the lookup or the alert tells.
func (r *run) launcher(ctx context.Context, it *item, account, region, instanceID string) (*trigger.Principal, error) {
	cl, err := r.clients.CloudTrail(ctx, account, region)
	if err != nil {
		return nil, err
	}
	out, err := cl.LookupEvents(ctx, &cloudtrail.LookupEventsInput{
		LookupAttributes: []cttypes.LookupAttribute{{AttributeKey: cttypes.LookupAttributeKeyResourceName, AttributeValue: aws.String(instanceID)}},
		MaxResults:       aws.Int32(10),
	})
	if err != nil {
		err = fmt.Errorf("look up who launched %s: %w", instanceID, err)
		it.missingPart(report.PartLauncher, err)
		retry := ""
		if retryable(err) {
			retry = " (a redelivery retries the lookup)"
		}
		it.addNote(fmt.Sprintf("who launched %s could not be looked up in CloudTrail (%s): identity policies were not checked%s", instanceID, clip(err.Error(), 200), retry))
		r.log.Warn().Str("event_id", clip(it.rec.EventID, 256)).Str("instance", instanceID).Bool("retry", retryable(err)).Err(err).
			Msg("launcher lookup failed: the key side is checked without it")
		return nil, nil
	}
	for _, e := range out.Events {
		if aws.ToString(e.EventName) != "RunInstances" {
			continue
		}
		var rec struct {
			ErrorCode    string          `json:"errorCode"`
			UserIdentity json.RawMessage `json:"userIdentity"`
		}
		if json.Unmarshal([]byte(aws.ToString(e.CloudTrailEvent)), &rec) != nil || rec.ErrorCode != "" {
			continue
		}
		p, err := trigger.ResolvePrincipal(rec.UserIdentity)
		if err != nil || p == nil || p.Account != account {
			continue
		}
		it.trailLauncher = p.ARN
		return p, nil
	}
	it.addNote(fmt.Sprintf("CloudTrail has no RunInstances record for %s yet: identity policies were not checked (a redelivery or amikms check --principal can)", instanceID))
	return nil, nil
}
