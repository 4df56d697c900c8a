// Package localaws runs the local AWS this project tests and demos against: moto_server, fronted
// by a gap filler that models what moto does not (encrypted AMI block devices, snapshot keys
// behind AMIs, CopyImage encryption, launch failures caused by KMS), and an optional fault
// injector. Every AWS call still goes through the SDK's real HTTP request/response code.
//
// # Using it
//
//	env, err := localaws.Start(ctx)            // moto_server + filler on 127.0.0.1
//	defer env.Close()
//	cfg, err := env.Config(ctx, "111122223333", "us-east-1") // SDK config acting as that account
//	key := ...kms.CreateKey via cfg...                          // real moto KMS
//	img := env.Filler.CreateImage("111122223333", "us-east-1", "app",
//		[]localaws.SnapshotSpec{{Encrypted: true, KmsKeyID: keyARN}})
//	env.Filler.ShareImage(img, "444455556666")               // or ModifyImageAttribute via the SDK
//	events := env.Filler.Events()                             // what AWS would have put on the bus
//
// A role in another account: Filler.MapAccessKeyPrincipal(akid, "arn:aws:iam::ACCT:role/NAME")
// with static credentials using akid, or a real sts:AssumeRole through env.URL (learned).
//
// # The moto gaps this package fills, and how
//
// Everything not listed here goes to moto_server unchanged (the filler is a reverse proxy).
// The filler keeps its own in-memory model of images, snapshots and instances; moto keeps
// everything else (KMS keys and policies, IAM, STS, SNS, SQS, EventBridge, Organizations, and
// its own EC2 objects). All calls still go through the SDK's real request/response code.
//
//   - RegisterImage ignores BlockDeviceMappings (one unencrypted 15 GB snapshot for every AMI).
//     Filled: RegisterImage with BlockDeviceMapping.N.Ebs.SnapshotId is answered by the filler.
//     The snapshots come from the Go seeders (Filler.CreateSnapshot, Filler.CreateImage) or are
//     imported from moto on first use (moto's CopySnapshot with KmsKeyId keeps the key).
//   - DescribeImages never reports Encrypted. Filled: modeled images are answered with EC2's XML
//     (blockDeviceMapping/ebs with snapshotId, encrypted, volumeSize, volumeType,
//     deleteOnTermination), filtered by ImageId.N, Owner.N, ExecutableBy.N and the common
//     Filter.N names, and merged into moto's answer for listings. Visibility is AWS's: the owner,
//     public images, and accounts with a launch permission. Unknown IDs go to moto, which answers
//     InvalidAMIID.NotFound.
//   - Snapshot keys behind AMIs (moto's CreateSnapshot of an encrypted volume loses KmsKeyId).
//     Filled: DescribeSnapshots answers modeled snapshots with encrypted and kmsKeyId (the key
//     ARN), visible to the owner and accounts with createVolumePermission only — sharing an AMI
//     does not share its snapshots, as on AWS. An imported encrypted moto snapshot without a key
//     gets the owner's aws/ebs key.
//   - Launch permissions of those images. Filled: DescribeImageAttribute (launchPermission,
//     description, blockDeviceMapping) and ModifyImageAttribute (LaunchPermission.Add/Remove.N
//     with UserId, Group=all, OrganizationArn, OrganizationalUnitArn, and the older
//     Attribute/OperationType/UserId.N/UserGroup.N form), owner only (others get AuthFailure),
//     user IDs must be 12 digits. Organization/OU permissions are stored and reported but do not
//     make the image visible to member accounts. DeregisterImage; ModifySnapshotAttribute
//     createVolumePermission, refusing snapshots under an AWS managed key and public encrypted
//     snapshots.
//   - CopyImage ignores Encrypted/KmsKeyId and only finds the caller's own source images.
//     Filled: any modeled source image visible to the caller (cross-account, cross-Region); the
//     copy belongs to the caller in the request's Region, with new snapshots encrypted per the
//     EC2 User Guide's image-copying scenarios (see copyImage). The copy stays "pending" until
//     Filler.CompleteCopies (or every DescribeImages with Filler.AutoCompleteCopies), then ends
//     "available", or "failed" when the copying account cannot use a source key or the
//     requested KmsKeyId; DescribeImages reports its SourceImageId and SourceImageRegion.
//   - RunInstances never fails for KMS reasons. Filled: RunInstances on a modeled image creates
//     modeled instances; when the launching account cannot use an encrypted snapshot's key the
//     call still succeeds and the instance is "terminated" with state reason
//     Client.InternalError / "Client.InternalError: Client error on launch". DescribeInstances
//     and TerminateInstances answer for them (merged with moto's reservations in listings).
//     "Can use" is a small, independent stand-in (keyaccess.go): key Enabled; same account
//     always; AWS managed keys never cross-account; otherwise the key policy read from moto
//     must Allow kms:Decrypt and kms:CreateGrant to the account without a Deny. With
//     Filler.RequireLauncherIAM the known launching role/user must also be allowed by its own
//     inline or attached IAM policies (iamaccess.go). Grants and SCPs are not evaluated.
//   - RunInstances through a launch template (no ImageId) goes to moto, which knows nothing of
//     modeled images. Filled: the filler reads the template version (LaunchTemplate.* with
//     $Default, $Latest or a number) from moto, launches its image with its block device
//     mappings, the request's overriding them device by device, and records the CloudTrail
//     record with the launchTemplate and no imageId (templates.go).
//   - The keys of a launch's volumes. Filled: besides each encrypted snapshot's key, the launching
//     account must be able to use each volume's KmsKeyId (request, else template), or, where EC2
//     re-encrypts without one (an encrypted snapshot of a shared AMI; an unencrypted one with
//     Encrypted=true or EBS encryption by default), the account's default EBS key (runInstances).
//   - GetEbsDefaultKmsKeyId is not implemented and ModifyEbsDefaultKmsKeyId's key is used
//     nowhere. Filled: Get/Modify/ResetEbsDefaultKmsKeyId per account and Region, the default
//     key answered as the alias ARN of aws/ebs until one is set; launches and copies encrypt with
//     it (ebsdefault.go; Filler.SetEBSDefaultKey seeds it).
//   - DescribeLaunchTemplateVersions ignores ResolveAlias. Filled: with ResolveAlias=true an image
//     ID resolve:ssm:PARAMETER is answered as the parameter's value in moto's SSM of the caller
//     (Filler.PutParameter seeds one); template launches resolve it too.
//   - Auto Scaling ignores CreateAutoScalingGroup's ServiceLinkedRoleARN (every group reports the
//     default role). Filled: the role a group was created or updated with is put into
//     DescribeAutoScalingGroups' answer (autoscaling.go). Mixed-instances policies, with
//     overrides that name their own launch template, are moto's own.
//   - KMS by key ARN from another account answers NotFoundException. Filled: CreateGrant,
//     ListGrants, RevokeGrant, RetireGrant, DescribeKey, Encrypt, Decrypt, GenerateDataKey and
//     GenerateDataKeyWithoutPlaintext by key ARN of another account are checked against the key
//     policy (with kms:GranteePrincipal and kms:GrantOperations for CreateGrant, the policy
//     variables ${aws:PrincipalAccount} and ${kms:CallerAccount}, ForAllValues/ForAnyValue) and
//     answered by moto as the key's account, or refused with AccessDeniedException (kmscross.go).
//   - CreateGrant creates a new grant for every call. Filled: a CreateGrant with a Name identical
//     to an existing grant (grantee, operations, retiring principal, constraints, name) answers
//     that grant's ID with a new token and creates nothing, as KMS does for retries.
//   - Grants give nothing at launch, and a service-linked role could use any key of its account.
//     Filled: a grant naming the launching principal with Decrypt and CreateGrant lets it launch
//     without any key policy statement; a service-linked role (path /aws-service-role/) may use a
//     customer managed key of its own account only when the key policy names the role itself (or
//     a grant does), and its account's AWS managed keys always (keyaccess.go).
//   - KMS DescribeKey reports KeyManager CUSTOMER for aws/ebs. Filled: the filler rewrites
//     KeyManager to AWS in DescribeKey answers for keys with an alias/aws/... alias.
//   - CloudTrail / EventBridge events are never generated. Filled: Filler.Events records the
//     events AWS would deliver for the modeled calls (events.go): CloudTrail records for
//     ModifyImageAttribute, CopyImage (also refused ones) and RunInstances (with its launch
//     template and block device mappings when it has them), instance
//     state-change notifications, and AMI state changes when copies finish. With
//     Filler.FailCopiesSynchronously, CopyImage refuses inaccessible keys at call time
//     (InvalidParameterValue), which yields the errorCode form of the CopyImage record.
//     LookupEvents answers from those records and from the ones Filler.RecordTrail adds (calls
//     the filler never saw, such as a refused RunInstances a test delivers by hand).
//   - CloudFormation DescribeStackResources reads only StackName (with PhysicalResourceId alone,
//     AWS's way to find the stack a resource belongs to, moto fails). Filled (stacks.go): the
//     filler searches the account's live stacks in moto and returns moto's answer for the one
//     that has the resource, else ValidationError "Stack for ID does not exist". moto does not
//     give resources the aws:cloudformation:* stack tags either (not filled: what they mean is
//     unit-tested with internal/fake), and it keeps an AWS::KMS::Key's KeyPolicy as the
//     template's object, on which its own DescribeKey fails, and reads its Tags in KMS's form
//     (TagKey/TagValue) rather than CloudFormation's (Key/Value), failing the stack on the latter
//     (not filled: scenario.World.StackKey puts the policy back as a document with PutKeyPolicy
//     and tags the key with TagResource).
//   - Listings of modeled images are not paged by moto. Filled: DescribeImages with MaxResults
//     (5 to 1000) and no ImageId.N pages the modeled images that match, in creation order, with
//     the filler's own nextToken ("filler-N"); the last page is merged with moto's answer, asked
//     without paging (a NextToken of moto's own goes to moto unchanged).
//   - account:ListRegions is not implemented (account.go). Filled from a model of the commercial
//     regions: the default ones ENABLED_BY_DEFAULT, opt-in ones DISABLED until
//     Filler.EnableRegion; AccountId may name another account only for the account
//     Filler.SetAccountManager names (AccessDeniedException otherwise), never the caller's own
//     (ValidationException); paged by MaxResults (at most 50).
//   - sts:AssumeRole never fails in moto, even for a role that does not exist (assumerole.go).
//     Filled, when Filler.RequireExistingRoles is on: AssumeRole of a role moto's IAM does not
//     have in the role's account is refused with AccessDenied, as AWS refuses it.
//   - DynamoDB's conditional writes are not atomic in moto (dynamodb.go): two concurrent writes
//     to one item can both pass their conditions. Filled: the filler forwards DynamoDB writes
//     one at a time.
//   - Accounts: the filler attributes requests as moto does (x-moto-account-id; else the access
//     key — learned from STS AssumeRole and IAM CreateAccessKey answers passing through, or
//     mapped with Filler.MapAccessKey; else 123456789012) and adds x-moto-account-id when it
//     forwards a request signed with a statically mapped key, so moto agrees.
//
// Not filled (known differences from AWS that tests must not rely on): key-policy enforcement
// on KMS calls within the key's own account, PutKeyPolicy validation (moto accepts anything,
// even on aws/ebs), cross-account ReEncrypt and the other KMS operations by key ARN not listed
// above, grant constraints, grant propagation delay (a grant is usable and listed at once; on
// AWS it may take up to five minutes), the key ARN in ListGrants' KeyId (moto gives the key ID),
// ServiceLinkedRoleARN checked to exist, the tags aws:ec2launchtemplate:id and
// aws:ec2launchtemplate:version on instances launched from a template (the fake in
// internal/fake sets them; on the local AWS an instance-terminated check finds no template),
// EKS managed node groups and EC2 Fleet / Spot launches (their service-linked roles appear only
// in hand-made CloudTrail records), launches Auto Scaling makes itself (moto's, not
// modeled), IAM of the launching account unless RequireLauncherIAM is on and the principal is
// known (and then not group policies or boundaries), organization/OU
// launch permissions resolved to member accounts, tags on modeled images and snapshots
// (CreateTags goes to moto; DescribeImages does not show them), pagination of modeled objects
// other than DescribeImages listings, events for calls the filler does not model (KMS, IAM,
// moto's own EC2 objects), IAM policy simulation, and request signatures (moto does not check
// them; the filler rewrites the bodies of requests whose answers it merges).
//
// # Faults
//
// FaultProxy sits in front of any endpoint (Env.ServeFaultProxy puts one in front of the
// filler). Seeded math/rand draws, in request order, whether a request fails (Rate) and how
// (Kinds): an AWS-shaped throttle for the protocol addressed, HTTP 500 or 503 with an AWS error
// body, a reset connection (TCP RST, no answer), added latency, or — only when asked for —
// "reset-after", where the request reaches AWS and only the answer is lost.
package localaws
