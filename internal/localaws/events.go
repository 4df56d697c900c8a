package localaws

import (
	"encoding/json"
	"strings"
	"time"
)

// moto never emits CloudTrail or EC2 state-change events. The filler records, for the EC2 calls
// it models, the EventBridge events AWS would deliver (envelope + CloudTrail record as detail,
// shaped like the samples in events/), so tests and the demo can feed the remediator events
// that name the real IDs of what they just did:
//   - "AWS API Call via CloudTrail" for CopyImage (also refused ones, with errorCode),
//     ModifyImageAttribute (launchPermission) and RunInstances;
//   - "EC2 Instance State-change Notification" (running, or terminated for a KMS launch failure);
//   - "EC2 AMI State Change" (available / failed) when a copy finishes.

// Events returns the recorded EventBridge events, oldest first (each one JSON object).
func (f *Filler) Events() []json.RawMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]json.RawMessage, len(f.events))
	copy(out, f.events)
	return out
}

// ClearEvents forgets the recorded events.
func (f *Filler) ClearEvents() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = nil
}

// addEvent records one event; the caller must not hold fi.mu.
func (fi *Filler) addEvent(detailType, account, region string, resources []string, detail any) {
	if resources == nil {
		resources = []string{}
	}
	raw, err := json.Marshal(map[string]any{
		"version": "0", "id": newRequestID(), "detail-type": detailType, "source": "aws.ec2",
		"account": account, "time": time.Now().UTC().Format(time.RFC3339), "region": region,
		"resources": resources, "detail": detail,
	})
	if err != nil {
		return
	}
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.events = append(fi.events, raw)
}

// recordCall records an EC2 API call as CloudTrail delivers it through EventBridge. A non-empty
// errCode gets the "Client." prefix CloudTrail gives EC2 client errors and null responseElements.
func (fi *Filler) recordCall(c *call, eventName string, requestParameters, responseElements map[string]any, errCode, errMsg string) {
	now := time.Now().UTC().Format(time.RFC3339)
	requestID := newRequestID()
	detail := map[string]any{
		"eventVersion":       "1.10",
		"userIdentity":       c.userIdentity(),
		"eventTime":          now,
		"eventSource":        "ec2.amazonaws.com",
		"eventName":          eventName,
		"awsRegion":          c.region,
		"sourceIPAddress":    "127.0.0.1",
		"userAgent":          c.userAgent,
		"requestParameters":  requestParameters,
		"responseElements":   nil,
		"requestID":          requestID,
		"eventID":            newRequestID(),
		"readOnly":           false,
		"eventType":          "AwsApiCall",
		"managementEvent":    true,
		"recipientAccountId": c.account,
		"eventCategory":      "Management",
	}
	if errCode != "" {
		detail["errorCode"] = "Client." + errCode
		detail["errorMessage"] = errMsg
	} else {
		if responseElements == nil {
			responseElements = map[string]any{}
		}
		responseElements["requestId"] = requestID
		detail["responseElements"] = responseElements
	}
	fi.addEvent("AWS API Call via CloudTrail", c.account, c.region, nil, detail)
}

// userIdentity is CloudTrail's userIdentity for the caller, as far as the filler knows it.
func (c *call) userIdentity() map[string]any {
	h := c.holder
	switch {
	case h.sessionARN != "":
		role := lastPathPart(h.principal)
		roleID, _, _ := strings.Cut(h.principalID, ":")
		if roleID == "" {
			roleID = "AROALOCALAWS" + c.account
		}
		session := lastPathPart(h.sessionARN)
		return map[string]any{
			"type": "AssumedRole", "principalId": roleID + ":" + session, "arn": h.sessionARN,
			"accountId": c.account, "accessKeyId": c.accessKey,
			"sessionContext": map[string]any{
				"sessionIssuer": map[string]any{"type": "Role", "principalId": roleID, "arn": h.principal,
					"accountId": c.account, "userName": role},
				"webIdFederationData": map[string]any{},
				"attributes":          map[string]any{"creationDate": time.Now().UTC().Format(time.RFC3339), "mfaAuthenticated": "false"},
			},
		}
	case strings.Contains(h.principal, ":user/"):
		return map[string]any{
			"type": "IAMUser", "principalId": "AIDALOCALAWS" + c.account, "arn": h.principal,
			"accountId": c.account, "accessKeyId": c.accessKey, "userName": lastPathPart(h.principal),
		}
	default:
		return map[string]any{
			"type": "Root", "principalId": c.account, "arn": "arn:aws:iam::" + c.account + ":root",
			"accountId": c.account, "accessKeyId": c.accessKey,
		}
	}
}

func (fi *Filler) recordInstanceState(account, region, instanceID, state string) {
	fi.addEvent("EC2 Instance State-change Notification", account, region,
		[]string{"arn:aws:ec2:" + region + ":" + account + ":instance/" + instanceID},
		map[string]any{"instance-id": instanceID, "state": state})
}

func (fi *Filler) recordImageState(account, region, imageID, state, errMsg string) {
	fi.addEvent("EC2 AMI State Change", account, region,
		[]string{"arn:aws:ec2:" + region + "::image/" + imageID},
		map[string]any{"RequestId": newRequestID(), "ImageId": imageID, "State": state, "ErrorMessage": errMsg})
}

// launchPermissionParams renders permission changes as CloudTrail shows them.
func launchPermissionParams(changes []permChange) map[string]any {
	lp := map[string]any{}
	for _, op := range []struct {
		name string
		add  bool
	}{{"add", true}, {"remove", false}} {
		var items []map[string]string
		for _, p := range changes {
			if p.add != op.add {
				continue
			}
			switch {
			case p.userID != "":
				items = append(items, map[string]string{"userId": p.userID})
			case p.group != "":
				items = append(items, map[string]string{"group": p.group})
			case p.org != "":
				items = append(items, map[string]string{"organizationArn": p.org})
			case p.orgUnitID != "":
				items = append(items, map[string]string{"organizationalUnitArn": p.orgUnitID})
			}
		}
		if len(items) > 0 {
			lp[op.name] = map[string]any{"items": items}
		}
	}
	return lp
}
