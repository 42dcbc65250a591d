// This file drives Arca with the aws CLI (Debian package awscli) through
// test/cli/kms.sh, using only the credential and config files dev mode writes.
package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestAWSCLI(t *testing.T) {
	t.Parallel()
	aws := requireTool(t, "aws", "awscli")
	s := startServer(t, serverOpts{})
	cmd := exec.Command("bash", "../cli/kms.sh")
	cmd.Env = append(os.Environ(),
		"ARCA_ENDPOINT="+s.endpoint,
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(s.dataDir, "credentials"),
		"AWS_CONFIG_FILE="+filepath.Join(s.dataDir, "config"),
		"AWS_PAGER=",
		"PATH="+filepath.Dir(aws)+":"+os.Getenv("PATH"),
	)
	out, err := cmd.CombinedOutput()
	t.Logf("%s --version: %s", aws, versionOf(aws))
	if err != nil {
		t.Fatalf("test/cli/kms.sh: %v\n%s", err, out)
	}
}

func versionOf(bin string) string {
	out, _ := exec.Command(bin, "--version").CombinedOutput()
	return string(out)
}
