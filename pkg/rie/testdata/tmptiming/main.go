package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/logging"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/remediate"
)

func main() {
	t0 := time.Now()
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		panic(err)
	}
	t1 := time.Now()
	log := logging.New(os.Stdout, cfg.LogLevel)
	t2 := time.Now()
	awsCfg, err := awsapi.LoadConfig(context.Background())
	if err != nil {
		panic(err)
	}
	t3 := time.Now()
	rm := remediate.New(cfg, awsapi.NewClients(awsCfg, cfg.MemberRoleName, ""), log)
	t4 := time.Now()
	_ = rm
	fmt.Fprintln(os.Stderr, "config", t1.Sub(t0), "log", t2.Sub(t1), "loadcfg", t3.Sub(t2), "new", t4.Sub(t3))
}
