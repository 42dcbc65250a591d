package policy

import (
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/auth"
)

func TestSetCallerGlobalKeys(t *testing.T) {
	at := time.Date(2026, 12, 3, 21, 4, 5, 0, time.FixedZone("CET", 3600))
	role := &auth.Caller{
		Principal: auth.Principal{Type: auth.AssumedRole, Account: "111122223333",
			ARN: "arn:aws:sts::111122223333:assumed-role/app/s1", SourceARN: "arn:aws:iam::111122223333:role/app",
			UserID: "AROAEXAMPLE:s1", SourceIdentity: "alice", Tags: map[string]string{"team": "pay"}},
		SourceIP: "192.0.2.7", SecureTransport: true,
	}
	user := &auth.Caller{Principal: auth.Principal{Type: auth.IAMUser, Account: "111122223333",
		ARN: "arn:aws:iam::111122223333:user/bob", UserID: "AIDAEXAMPLE", UserName: "bob"}}
	tests := []struct {
		name   string
		caller *auth.Caller
		want   map[string]string // "" means absent
	}{
		{"role session", role, map[string]string{
			"aws:PrincipalArn": "arn:aws:iam::111122223333:role/app", "aws:PrincipalAccount": "111122223333",
			"aws:PrincipalType": "AssumedRole", "aws:userid": "AROAEXAMPLE:s1", "aws:username": "",
			"aws:SourceIp": "192.0.2.7", "aws:SourceIdentity": "alice", "aws:CurrentTime": "2026-12-03T20:04:05Z",
			"aws:EpochTime": "1796328245", "aws:SecureTransport": "true", "aws:PrincipalTag/Team": "pay",
		}},
		{"user", user, map[string]string{
			"aws:PrincipalArn": "arn:aws:iam::111122223333:user/bob", "aws:PrincipalType": "User",
			"aws:userid": "AIDAEXAMPLE", "aws:username": "bob", "aws:SourceIp": "", "aws:SourceIdentity": "",
			"aws:SecureTransport": "false",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pc Context
			pc.SetCaller(tt.caller, TimeKeysAt(at))
			for k, want := range tt.want {
				got, ok := pc.Values(k)
				switch {
				case want == "" && ok:
					t.Errorf("%s = %v, want absent", k, got)
				case want != "" && (!ok || len(got) != 1 || got[0] != want):
					t.Errorf("%s = %v (present %v), want %q", k, got, ok, want)
				}
			}
		})
	}
}

func TestClockFormatsOncePerSecond(t *testing.T) {
	now := time.Unix(1796328245, 0)
	c := NewClock(func() time.Time { return now })
	a := c.Keys()
	now = now.Add(400 * time.Millisecond)
	if b := c.Keys(); b != a {
		t.Fatal("keys re-formatted within the same second")
	}
	now = now.Add(time.Second)
	if b := c.Keys(); b == a || b.epoch != "1796328246" {
		t.Fatalf("next second: epoch %q, want 1796328246 in new keys", b.epoch)
	}
}
