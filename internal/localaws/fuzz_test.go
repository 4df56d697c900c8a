package localaws

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzFillerEC2 sends arbitrary EC2 query bodies through the filler (with a stand-in moto that
// answers every call with an empty EC2 response): no input may panic it or make it answer
// outside HTTP's status range.
func FuzzFillerEC2(f *testing.F) {
	moto := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write([]byte(`<?xml version="1.0"?><R><imagesSet/><snapshotSet/><reservationSet/></R>`))
	}))
	defer moto.Close()
	filler, err := NewFiller(moto.URL)
	if err != nil {
		f.Fatal(err)
	}
	img := filler.CreateImage("111122223333", "us-east-1", "seed", []SnapshotSpec{{Encrypted: true, KmsKeyID: "arn:aws:kms:us-east-1:111122223333:key/k"}})
	snap := filler.CreateSnapshot("111122223333", "us-east-1", "", false, 8)

	for _, seed := range []string{
		"Action=DescribeImages&ImageId.1=" + img,
		"Action=DescribeImages&ImageId.1=" + img + "&ImageId.2=ami-other&Filter.1.Name=name&Filter.1.Value.1=s*",
		"Action=DescribeImages&Owner.1=self&ExecutableBy.1=all",
		"Action=DescribeSnapshots&SnapshotId.1=" + snap + "&Filter.1.Name=encrypted&Filter.1.Value.1=true",
		"Action=ModifyImageAttribute&ImageId=" + img + "&LaunchPermission.Add.1.UserId=444455556666&LaunchPermission.Remove.x.Group=all",
		"Action=ModifyImageAttribute&ImageId=" + img + "&Attribute=launchPermission&OperationType=add&UserGroup.1=all",
		"Action=DescribeImageAttribute&ImageId=" + img + "&Attribute=blockDeviceMapping",
		"Action=RegisterImage&Name=n&BlockDeviceMapping.1.Ebs.SnapshotId=" + snap + "&BlockDeviceMapping.1.Ebs.VolumeSize=99999999999",
		"Action=CopyImage&SourceImageId=" + img + "&SourceRegion=us-east-1&Name=c&Encrypted=true&KmsKeyId=alias/x",
		"Action=RunInstances&ImageId=" + img + "&MaxCount=-5",
		"Action=DescribeInstances&InstanceId.1=i-1&Filter.1.Name=instance-state-name",
		"Action=TerminateInstances&InstanceId.1=",
		"Action=ModifySnapshotAttribute&SnapshotId=" + snap + "&CreateVolumePermission.Add.1.Group=all",
		"Action=DeregisterImage&ImageId=%zz",
	} {
		f.Add(seed, "111122223333")
	}
	f.Fuzz(func(t *testing.T, body, account string) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEEXAMPLE00/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0")
		if account != "" {
			r.Header.Set(motoAccountHdr, account)
		}
		w := httptest.NewRecorder()
		filler.ServeHTTP(w, r)
		if w.Code < 100 || w.Code > 599 {
			t.Fatalf("status %d", w.Code)
		}
	})
}

// FuzzPolicyLetsUse: any key policy text gets an answer, never a panic, and a refusal always
// says why.
func FuzzPolicyLetsUse(f *testing.F) {
	for _, seed := range []string{
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}`,
		`{"Statement":{"Effect":"Deny","NotPrincipal":{"AWS":["1"]},"NotAction":"kms:E*","Condition":{"StringLikeIfExists":{"kms:ViaService":["ec2.*"]}}}}`,
		`{"Statement":[{"Effect":"Allow","Principal":{"AWS":7},"Action":[1,2],"Condition":{"Bool":{"kms:GrantIsForAWSResource":true}}}]}`,
		`[]`, `null`, ``,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		if ok, why := policyLetsUse(doc, "444455556666", "", "us-east-1"); !ok && why == "" {
			t.Fatal("refusal without a reason")
		}
	})
}
