package trail

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/audit"
	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/epoch"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/svcerr"
)

// fakeIndex answers with one event and remembers the query.
type fakeIndex struct{ q audit.Query }

func (f *fakeIndex) Lookup(q audit.Query) (audit.Page, error) {
	f.q = q
	ev := audit.Event{EventID: "e1", EventName: "Encrypt", EventSource: "kms.amazonaws.com", EventTime: "2026-12-03T18:00:00Z",
		ReadOnly: true, UserIdentity: audit.UserIdentity{Type: "IAMUser", UserName: "alice", AccessKeyID: "AKIAX"},
		Resources: []audit.Resource{{ARN: "arn:aws:kms:us-east-1:111122223333:key/k", Type: "AWS::KMS::Key"}}}
	b, _ := json.Marshal(ev)
	return audit.Page{Events: [][]byte{b}, Next: 7, Cursor: []byte{0, 0, 0, 0, 0, 0, 0, 7}}, nil
}

type fakeIDs struct{ doc string }

func (f fakeIDs) Policies(context.Context, *auth.Principal) ([]*policy.Policy, *policy.Policy, error) {
	if f.doc == "" {
		return nil, nil, nil
	}
	p, err := policy.ParseWith([]byte(f.doc), policy.Options{Kind: policy.KindIdentity})
	return []*policy.Policy{p}, nil, err
}

var (
	root  = &auth.Caller{Principal: auth.Principal{Type: auth.Root, Account: "111122223333", ARN: "arn:aws:iam::111122223333:root"}}
	alice = &auth.Caller{Principal: auth.Principal{Type: auth.IAMUser, Account: "111122223333", ARN: "arn:aws:iam::111122223333:user/alice", UserName: "alice"}}
)

func TestLookupEvents(t *testing.T) {
	ix := &fakeIndex{}
	s := New(Config{Index: ix})
	in := &LookupEventsInput{LookupAttributes: []LookupAttribute{{AttributeKey: "ResourceName", AttributeValue: "arn:aws:kms:us-east-1:111122223333:key/k"}}}
	out, err := s.LookupEvents(context.Background(), root, in)
	if err != nil {
		t.Fatal(err)
	}
	if ix.q.Account != "111122223333" || ix.q.Attr != audit.AttrResourceName || ix.q.Max != 50 {
		t.Errorf("query = %+v", ix.q)
	}
	e := out.Events[0]
	if e.EventName != "Encrypt" || e.ReadOnly != "true" || e.Username != "alice" || e.AccessKeyID != "AKIAX" ||
		e.Resources[0].ResourceType != "AWS::KMS::Key" || e.CloudTrailEvent == "" || out.NextToken == "" {
		t.Errorf("event = %+v, next %q", e, out.NextToken)
	}
	// The token continues the same query only.
	in.NextToken = out.NextToken
	if _, err := s.LookupEvents(context.Background(), root, in); err != nil || string(ix.q.Cursor) != "\x00\x00\x00\x00\x00\x00\x00\x07" {
		t.Errorf("continuing: %v, cursor %x", err, ix.q.Cursor)
	}
	in.LookupAttributes[0].AttributeValue = "other"
	if _, err := s.LookupEvents(context.Background(), root, in); svcerr.CodeOf(err) != svcerr.InvalidNextToken {
		t.Errorf("token for another query: %v", err)
	}
}

func TestLookupEventsValidation(t *testing.T) {
	s := New(Config{Index: &fakeIndex{}})
	now := time.Now()
	n0, n51 := 0, 51
	for _, tc := range []struct {
		in   LookupEventsInput
		code svcerr.Code
	}{
		{LookupEventsInput{LookupAttributes: []LookupAttribute{{"EventName", "a"}, {"EventName", "b"}}}, svcerr.InvalidLookupAttributes},
		{LookupEventsInput{LookupAttributes: []LookupAttribute{{"Bogus", "a"}}}, svcerr.InvalidLookupAttributes},
		{LookupEventsInput{LookupAttributes: []LookupAttribute{{"EventName", ""}}}, svcerr.InvalidLookupAttributes},
		{LookupEventsInput{LookupAttributes: []LookupAttribute{{"ReadOnly", "maybe"}}}, svcerr.InvalidLookupAttributes},
		{LookupEventsInput{StartTime: epoch.New(now), EndTime: epoch.New(now.Add(-time.Hour))}, svcerr.InvalidTimeRange},
		{LookupEventsInput{MaxResults: &n0}, svcerr.InvalidMaxResults},
		{LookupEventsInput{MaxResults: &n51}, svcerr.InvalidMaxResults},
		{LookupEventsInput{NextToken: "garbage"}, svcerr.InvalidNextToken},
		{LookupEventsInput{EventCategory: "data"}, svcerr.InvalidEventCategory},
	} {
		if _, err := s.LookupEvents(context.Background(), root, &tc.in); svcerr.CodeOf(err) != tc.code {
			t.Errorf("%+v: got %v, want %s", tc.in, err, tc.code)
		}
	}
}

func TestLookupEventsAuthorization(t *testing.T) {
	deny := New(Config{Index: &fakeIndex{}, Identities: fakeIDs{}})
	if _, err := deny.LookupEvents(context.Background(), alice, &LookupEventsInput{}); svcerr.CodeOf(err) != svcerr.AccessDenied {
		t.Errorf("no policy: %v", err)
	}
	allow := New(Config{Index: &fakeIndex{}, Identities: fakeIDs{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"cloudtrail:LookupEvents","Resource":"*"}]}`}})
	if _, err := allow.LookupEvents(context.Background(), alice, &LookupEventsInput{}); err != nil {
		t.Errorf("allowed by policy: %v", err)
	}
	rot := New(Config{Operator: "111122223333", Rotate: func(context.Context) error { return nil },
		PublicKeys: func(context.Context) ([]byte, error) { return []byte("pem"), nil }})
	if _, err := rot.ArcaRotateAuditSigningKey(context.Background(), alice, nil); svcerr.CodeOf(err) != svcerr.AccessDenied {
		t.Errorf("rotation by a user: %v", err)
	}
	other := &auth.Caller{Principal: auth.Principal{Type: auth.Root, Account: "999999999999"}}
	if _, err := rot.ArcaRotateAuditSigningKey(context.Background(), other, nil); svcerr.CodeOf(err) != svcerr.AccessDenied {
		t.Errorf("rotation by another account's root: %v", err)
	}
	if out, err := rot.ArcaRotateAuditSigningKey(context.Background(), root, nil); err != nil || out.PublicKeysPem != "pem" {
		t.Errorf("rotation by the operator: %v", err)
	}
}
