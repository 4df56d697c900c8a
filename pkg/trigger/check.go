package trigger

// Check is the kind of `amikms check`: a launch of the image by the account (and, with
// --principal, by that user or role), checked before or without any event.
const Check Kind = "check"

func init() {
	register(&Descriptor{
		Kind:           Check,
		Doc:            "checks the image's keys for the account and, with `--principal`, that principal's IAM (`amikms check`)",
		Synthetic:      true,
		NamesPrincipal: true,
		Diagnose:       diagnoseLaunch,
	})
}
