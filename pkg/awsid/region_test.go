package awsid

import "testing"

func TestIsRegion(t *testing.T) {
	for s, want := range map[string]bool{
		"us-east-1": true, "ap-southeast-7": true, "us-gov-west-1": true, "cn-northwest-1": true,
		"us-isob-east-1": true, "eu-isoe-west-1": true, "eusc-de-east-1": true, "mx-central-1": true, "xx-future-12": true,
		"": false, "us-east": false, "us-east-": false, "us-east-123": false, "us--east-1": false, "-us-east-1": false,
		"us-east-1.evil.example": false, " us-east-1": false, "us-east-1 ": false, "US-EAST-1": false, "us_east_1": false,
		"us-east-１": false, "usa-east-1": false, "u-east-1": false, "us-east-1a": false, "us-e4st-1": false,
		"aws-global": false, "us-east-1/../x": false, "us-east-1\n": false, "us-" + string(make([]byte, 40)) + "-1": false,
	} {
		if got := IsRegion(s); got != want {
			t.Errorf("IsRegion(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestRegionPartition(t *testing.T) {
	for region, want := range map[string]string{
		"us-east-1": "aws", "eu-west-1": "aws", "il-central-1": "aws", "xx-future-1": "aws",
		"cn-north-1": "aws-cn", "us-gov-east-1": "aws-us-gov", "us-iso-east-1": "aws-iso", "us-isob-east-1": "aws-iso-b",
		"eu-isoe-west-1": "aws-iso-e", "us-isof-south-1": "aws-iso-f", "eusc-de-east-1": "aws-eusc",
	} {
		if got := RegionPartition(region); got != want {
			t.Errorf("RegionPartition(%q) = %q, want %q", region, got, want)
		}
		if !IsRegion(region) || !IsPartition(RegionPartition(region)) {
			t.Errorf("%q: not a region, or its partition %q is unknown", region, RegionPartition(region))
		}
	}
}
