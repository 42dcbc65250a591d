// This file drives Arca with the aws CLI through test/cli/kms.sh and
// test/cli/iam.sh, using only
// the credentials and config files dev mode writes to the data dir. Every
// distinct aws CLI found (the one on PATH, and Debian's /usr/bin/aws) runs
// the script, so both CLI v1 and v2 are covered where installed.
package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestAWSCLI(t *testing.T) {
	t.Parallel()
	runAWSCLIScript(t, "kms.sh")
}

// TestAWSCLIIAM runs test/cli/iam.sh: the aws iam and aws sts commands.
func TestAWSCLIIAM(t *testing.T) {
	t.Parallel()
	runAWSCLIScript(t, "iam.sh")
}

// TestAWSCLISecretsManager runs test/cli/secretsmanager.sh: the aws
// secretsmanager commands.
func TestAWSCLISecretsManager(t *testing.T) {
	t.Parallel()
	runAWSCLIScript(t, "secretsmanager.sh")
}

// runAWSCLIScript runs test/cli/NAME with every distinct aws CLI, each
// against a server of its own.
func runAWSCLIScript(t *testing.T, name string) {
	bash := requireTool(t, "bash", "bash")
	requireTool(t, "base64", "coreutils")
	requireTool(t, "cmp", "diffutils")
	clis := []string{requireTool(t, "aws", "awscli")}
	if p, err := filepath.EvalSymlinks("/usr/bin/aws"); err == nil {
		if first, err := filepath.EvalSymlinks(clis[0]); err == nil && first != p {
			clis = append(clis, "/usr/bin/aws")
		}
	}
	script, err := filepath.Abs(filepath.Join("..", "cli", name))
	if err != nil {
		t.Fatal(err)
	}
	for _, cli := range clis {
		t.Run(versionOf(cli), func(t *testing.T) {
			t.Parallel()
			// A server of its own: the scripts create named resources.
			srv := startServer(t, serverOpts{})
			// A directory holding only this aws, first on PATH.
			bin := t.TempDir()
			if err := os.Symlink(cli, filepath.Join(bin, "aws")); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bash, script)
			cmd.Env = cleanEnv(
				"ARCA_ENDPOINT="+srv.endpoint,
				"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(srv.dataDir, "credentials"),
				"AWS_CONFIG_FILE="+filepath.Join(srv.dataDir, "config"),
				"HOME="+t.TempDir(), // no ~/.aws of the developer's
				"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
			)
			out, err := cmd.CombinedOutput()
			t.Logf("test/cli/%s with %s:\n%s", name, cli, out)
			if err != nil {
				t.Errorf("test/cli/%s: %v", name, err)
			}
		})
	}
}

// versionOf returns the first word of `bin --version` (aws-cli/X.Y.Z).
func versionOf(bin string) string {
	out, _ := exec.Command(bin, "--version").CombinedOutput()
	if f := strings.Fields(string(out)); len(f) > 0 {
		return f[0]
	}
	return bin
}
