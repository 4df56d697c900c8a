package localaws

import (
	"encoding/xml"
	"net/http"
	"net/url"
)

// moto's DescribeStackResources reads only StackName: with PhysicalResourceId alone (how AWS
// finds "the stack that the resource belongs to") it fails. The filler answers that form itself:
// it lists the account's stacks in moto (ListStacks), asks each live one for its resources, and
// returns moto's own answer for the stack that has the resource, or CloudFormation's
// ValidationError "Stack for ID does not exist" when none has it (CloudFormation API Reference,
// DescribeStackResources). Deleted stacks are not searched. Every other CloudFormation call goes
// to moto.

func isStackResourcesByPhysicalID(c *call) bool {
	return c.target == "" && c.service == "cloudformation" && c.action == "DescribeStackResources" &&
		c.params.Get("PhysicalResourceId") != "" && c.params.Get("StackName") == ""
}

func (f *Filler) describeStackResourcesByPhysicalID(w http.ResponseWriter, r *http.Request, c *call) {
	id := c.params.Get("PhysicalResourceId")
	status, raw, err := f.queryRaw(r.Context(), "cloudformation", c.account, c.region, url.Values{"Action": {"ListStacks"}, "Version": {"2010-05-15"}})
	if err != nil || status != http.StatusOK {
		writeQueryError(w, http.StatusInternalServerError, "Receiver", "InternalFailure", "filler: list stacks in moto failed")
		return
	}
	var stacks struct {
		Members []struct {
			StackName   string `xml:"StackName"`
			StackStatus string `xml:"StackStatus"`
		} `xml:"ListStacksResult>StackSummaries>member"`
	}
	if err := xml.Unmarshal(raw, &stacks); err != nil {
		writeQueryError(w, http.StatusInternalServerError, "Receiver", "InternalFailure", "filler: moto's ListStacks answer does not parse")
		return
	}
	for _, s := range stacks.Members {
		if s.StackStatus == "DELETE_COMPLETE" {
			continue
		}
		status, body, err := f.queryRaw(r.Context(), "cloudformation", c.account, c.region,
			url.Values{"Action": {"DescribeStackResources"}, "Version": {"2010-05-15"}, "StackName": {s.StackName}})
		if err != nil || status != http.StatusOK {
			continue
		}
		var res struct {
			Members []struct {
				PhysicalResourceID string `xml:"PhysicalResourceId"`
			} `xml:"DescribeStackResourcesResult>StackResources>member"`
		}
		if xml.Unmarshal(body, &res) != nil {
			continue
		}
		for _, m := range res.Members {
			if m.PhysicalResourceID == id {
				w.Header().Set("Content-Type", "text/xml")
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write(body)
				return
			}
		}
	}
	writeQueryError(w, http.StatusBadRequest, "Sender", "ValidationError", "Stack for "+id+" does not exist")
}
