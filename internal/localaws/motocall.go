package localaws

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// The filler's own calls to moto. moto does not verify signatures; the Authorization header only
// carries the region (credential scope), and x-moto-account-id selects the account.

func fakeAuth(region, service string) string {
	return "AWS4-HMAC-SHA256 Credential=LOCALAWSFILLER000000/20260101/" + region + "/" + service +
		"/aws4_request, SignedHeaders=host, Signature=0"
}

// motoError is an error answer from moto (JSON __type or EC2/query XML code).
type motoError struct {
	Status  int
	Code    string
	Message string
}

func (e *motoError) Error() string {
	return fmt.Sprintf("moto: HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

// kmsCall calls a KMS JSON action in moto as account in region.
func (fi *Filler) kmsCall(ctx context.Context, account, region, action string, in, out any) error {
	return fi.jsonCall(ctx, "kms", "TrentService", account, region, action, in, out)
}

// jsonCall calls an action of a JSON-protocol service (X-Amz-Target PREFIX.ACTION) in moto as
// account in region.
func (fi *Filler) jsonCall(ctx context.Context, service, prefix, account, region, action string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s %s: encode: %w", service, action, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fi.moto.String()+"/", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s %s: %w", service, action, err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", prefix+"."+action)
	req.Header.Set("Authorization", fakeAuth(region, service))
	req.Header.Set(motoAccountHdr, account)
	resp, err := fi.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", service, action, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read: %w", service, action, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(raw, &e)
		return fmt.Errorf("%s %s: %w", service, action, &motoError{Status: resp.StatusCode, Code: e.Type, Message: e.Message})
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: decode: %w", service, action, err)
	}
	return nil
}

// ec2Raw sends an EC2 query request to moto as account in region and returns the raw answer.
func (fi *Filler) ec2Raw(ctx context.Context, account, region string, params url.Values) (int, []byte, error) {
	return fi.queryRaw(ctx, "ec2", account, region, params)
}

// queryRaw sends a query-protocol request (EC2, IAM, STS, ...) to moto as account.
func (fi *Filler) queryRaw(ctx context.Context, service, account, region string, params url.Values) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fi.moto.String()+"/", bytes.NewBufferString(params.Encode()))
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", service, params.Get("Action"), err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("Authorization", fakeAuth(region, service))
	req.Header.Set(motoAccountHdr, account)
	resp, err := fi.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", service, params.Get("Action"), err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: read: %w", service, params.Get("Action"), err)
	}
	return resp.StatusCode, raw, nil
}

// keyMetadata is the part of KMS DescribeKey the filler uses.
type keyMetadata struct {
	AWSAccountID string `json:"AWSAccountId"`
	Arn          string `json:"Arn"`
	KeyID        string `json:"KeyId"`
	KeyState     string `json:"KeyState"`
	KeyManager   string `json:"KeyManager"`
}

// describeKey resolves a key ID, key ARN, alias name or alias ARN. ARNs are looked up in the
// account and region they name; anything else in account/region.
func (fi *Filler) describeKey(ctx context.Context, account, region, keyID string) (keyMetadata, error) {
	if a := arnAccount(keyID); a != "" {
		account = a
		if r := arnRegion(keyID); r != "" {
			region = r
		}
	}
	var out struct {
		KeyMetadata keyMetadata `json:"KeyMetadata"`
	}
	if err := fi.kmsCall(ctx, account, region, "DescribeKey", map[string]string{"KeyId": keyID}, &out); err != nil {
		return keyMetadata{}, err
	}
	return out.KeyMetadata, nil
}

// ebsEncryptionByDefault asks moto whether the account enabled EBS encryption by default.
func (fi *Filler) ebsEncryptionByDefault(ctx context.Context, account, region string) bool {
	status, raw, err := fi.ec2Raw(ctx, account, region, url.Values{"Action": {"GetEbsEncryptionByDefault"}, "Version": {"2016-11-15"}})
	if err != nil || status != http.StatusOK {
		return false
	}
	return bytes.Contains(raw, []byte("<ebsEncryptionByDefault>true</ebsEncryptionByDefault>"))
}

func arnRegion(s string) string {
	parts := splitARN(s)
	if parts == nil {
		return ""
	}
	return parts[3]
}

func splitARN(s string) []string {
	parts := bytes.SplitN([]byte(s), []byte(":"), 6)
	if len(parts) < 6 || string(parts[0]) != "arn" {
		return nil
	}
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(p)
	}
	return out
}
