// Package stack has no code of its own: its tests check the deployment side of the project.
// template.yaml and member-account.yaml must pass cfn-lint without errors or warnings, keep the
// invariants the remediator relies on (one execution at a time, SQS batching and redrive, the env
// vars the code reads, least-privilege roles), and their EventBridge patterns must route every
// sample in events/ to the rule meant for it on the local AWS (moto) and the ignore samples nowhere.
package stack
