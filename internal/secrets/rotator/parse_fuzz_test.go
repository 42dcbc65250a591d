package rotator

import (
	"strings"
	"testing"
)

// FuzzParseDBSecret checks that any secret text parses or fails without a
// panic, that errors never quote the password, and that what parses is
// usable: a host that cannot rewrite a connection string, a valid port.
func FuzzParseDBSecret(f *testing.F) {
	for _, s := range []string{
		`{"engine":"postgres","host":"db.example.com","port":5432,"username":"app","password":"pw-123456","dbname":"app"}`,
		`{"engine":"mysql","host":"10.0.0.1","port":"3306","username":"app","password":"pw-123456","masterarn":"arn:aws:secretsmanager:us-east-1:111122223333:secret:m-AbCdEf"}`,
		`{"host":"::1","username":"a","password":"pw-123456","port":1e3}`,
		`{"host":"h","username":"a","password":"pw-123456","port":65536}`,
		`{"host":"h?sslmode=disable","username":"a","password":"pw-123456"}`,
		`{"host":"h","username":7,"password":"pw-123456"}`,
		`[]`, `null`, `pw-123456`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		for _, e := range []dbEngine{postgres{}, mysqlEngine{}} {
			d, err := parseDBSecret(text, "s", "AWSCURRENT", e)
			if err != nil {
				if strings.Contains(text, `"password":"pw-123456"`) && strings.Contains(err.Error(), "pw-123456") {
					t.Fatalf("error quotes the password: %v", err)
				}
				continue
			}
			if !validHost(d.host) || strings.ContainsAny(d.host, "/?#@ ") && !strings.Contains(d.host, ":") {
				t.Fatalf("host %q accepted", d.host)
			}
			if d.port < 1 || d.port > 65535 || d.username == "" || d.password == "" {
				t.Fatalf("parsed %+v", d)
			}
		}
	})
}
