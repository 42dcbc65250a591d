package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func load(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return Load(fs, func(k string) string { return env[k] })
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "arca.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Defaults()) {
		t.Errorf("got %+v, want %+v", c, Defaults())
	}
}

// TestPrecedence checks flags > env > file > defaults, one setting at a time.
func TestPrecedence(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "listen: 127.0.0.1:1001\naccount_id: '111111111111'\nregions: [eu-west-1]\nlog_level: debug\n")
	env := map[string]string{"ARCA_CONFIG": file, "ARCA_LISTEN": "127.0.0.1:1002", "ARCA_REGION": "ap-south-1, eu-central-1"}
	c, err := load(t, []string{"--listen", "127.0.0.1:1003", "--dev"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:1003" {
		t.Errorf("listen = %q, want the flag's", c.Listen)
	}
	if !reflect.DeepEqual(c.Regions, []string{"ap-south-1", "eu-central-1"}) {
		t.Errorf("regions = %q, want the environment's", c.Regions)
	}
	if c.AccountID != "111111111111" || c.LogLevel != "debug" {
		t.Errorf("account %q / log level %q: want the file's", c.AccountID, c.LogLevel)
	}
	if !c.Dev {
		t.Error("--dev not applied")
	}
	c, err = load(t, []string{"--region", "us-west-2", "--region", "us-east-2"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Regions, []string{"us-west-2", "us-east-2"}) {
		t.Errorf("repeated --region = %q", c.Regions)
	}
}

func TestInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"account", []string{"--account-id", "12"}, nil, "account_id"},
		{"region", []string{"--region", "Mars"}, nil, "region"},
		{"listen", []string{"--listen", "nowhere"}, nil, "listen"},
		{"storage", []string{"--storage", "floppy"}, nil, "storage"},
		{"log level", nil, map[string]string{"ARCA_LOG_LEVEL": "loud"}, "log_level"},
		{"dev bool", nil, map[string]string{"ARCA_DEV": "maybe"}, "ARCA_DEV"},
		{"unknown yaml key", []string{"--config", writeFile(t, "listen: 127.0.0.1:1\nlistne: x\n")}, nil, "line 2"},
		{"missing file", []string{"--config", "/nonexistent/arca.yaml"}, nil, "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := load(t, tc.args, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestEmptyFile(t *testing.T) {
	t.Parallel()
	if _, err := load(t, []string{"--config", writeFile(t, "")}, nil); err != nil {
		t.Errorf("empty config file: %v", err)
	}
}
