// Package benchmark is `make bench`: it measures, in one run, what a Go remediator is
// chosen for and prints one table with each figure beside its baseline and goal:
//
//  1. cold start: bootstrap vs an empty aws-lambda-go handler (and the same handler with the SDK
//     packages linked), each started fresh under aws-lambda-rie, init and first invoke as the
//     emulator reports them (internal/rie);
//  2. AWS calls per event, from the result's stats, against the documented minimum (Minimums);
//  3. batch coalescing: one SQS batch of 100 records over 10 keys and 20 accounts against 100
//     single-record invocations;
//  4. memory: peak RSS (VmHWM) of bootstrap on that batch, and the arm64 binary's size;
//  5. the policy engine's Go benchmarks against encoding/json decoding into any.
//
// Ratios are the headline: the machines are shared and noisy. Nothing here is a timed test; the
// package's tests check the pieces (table, RSS reader, benchmark parser, minimums) and that the
// batch makes one write per key, by counting calls.
package benchmark
