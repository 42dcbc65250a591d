// Command arca is the Arca key management server and its tools.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/arca-kms/arca/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
