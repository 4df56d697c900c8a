package trigger

import "context"

// EstateImage is one image of the estate checked on its own: a sweep task spawns one per image it
// finds, and a key's policy change one per image known to use the key. Account owns ImageID.
const EstateImage Kind = "estate-image"

func init() {
	register(&Descriptor{
		Kind:      EstateImage,
		Doc:       "checks one image for every account it is shared with and for its owner (spawned by `sweep-task` and `key-policy-changed`)",
		Synthetic: true,
		Diagnose:  diagnoseEstateImage,
	})
}

// diagnoseEstateImage checks the image as share-image does (its shares read from EC2, its owner
// must be the account), and for the owner too: a copy made into the account may use a key of
// another account, which the owner needs as much as anyone it shares the image with.
func diagnoseEstateImage(ctx context.Context, d Diagnosis, t Trigger) error {
	return d.CheckImage(ctx, ImageCheck{Viewer: t.Account, Region: t.Region, ImageID: t.ImageID,
		Targets: []string{t.Account}, WithShares: true, ViewerOwns: true})
}
