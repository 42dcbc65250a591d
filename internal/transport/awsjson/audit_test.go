package awsjson

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/arca-kms/arca/internal/audit"
	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/transport/auditrec"
)

// fakeLog records events, failing the appends failAt says to.
type fakeLog struct {
	mu     sync.Mutex
	events []audit.Event
	failAt func(ev *audit.Event) bool
}

func (l *fakeLog) Append(_ context.Context, ev *audit.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failAt != nil && l.failAt(ev) {
		return errors.New("disk full")
	}
	l.events = append(l.events, *ev)
	return nil
}

// auditServer serves a read-only operation (GetThing, which returns a
// secret) and a mutating one (PutThing, counting its runs).
func auditServer(log *fakeLog, runs *int) *Server {
	type in struct {
		Name   string            `json:"Name"`
		Secret []byte            `json:"Secret"`
		Ctx    map[string]string `json:"Ctx"`
		Extra  string            `json:"Extra"`
	}
	type out struct {
		Name   string `json:"Name"`
		Secret []byte `json:"Secret"`
		ID     string `json:"KeyMaterialId"`
	}
	svc := NewService("TestService", "test",
		Op("GetThing", "test:GetThing", func(_ context.Context, _ *auth.Caller, i *in) (*out, error) {
			return &out{Name: i.Name, Secret: []byte("response-secret"), ID: "km1"}, nil
		}),
		Op("ListThings", "test:ListThings", func(_ context.Context, _ *auth.Caller, i *in) (*struct {
			Name   string `json:"Name"`
			Secret []byte `json:"Secret"`
		}, error) {
			return &struct {
				Name   string `json:"Name"`
				Secret []byte `json:"Secret"`
			}{Name: i.Name, Secret: []byte("response-secret")}, nil
		}),
		Op("PutThing", "test:PutThing", func(_ context.Context, _ *auth.Caller, i *in) (*out, error) {
			*runs++
			return &out{Name: i.Name, Secret: []byte("response-secret"), ID: "km2"}, nil
		}),
	)
	svc.Audit = &auditrec.View{EventSource: "test.amazonaws.com", Members: map[string]auditrec.Class{
		"Name": auditrec.Record, "Secret": auditrec.Omit, "Ctx": auditrec.Verbatim, "KeyMaterialId": auditrec.Additional}}
	return New(Config{Services: []*Service{svc}, Verifier: fakeVerifier{}, Principals: fakePrincipals{},
		Regions: []string{"us-east-1"}, Audit: auditrec.New(log, "000000000000")})
}

func TestAuditEventShape(t *testing.T) {
	log := &fakeLog{}
	runs := 0
	s := auditServer(log, &runs)
	res := do(t, s, "TestService.PutThing", "us-east-1/test",
		`{"Name":"n1","Secret":"c2VjcmV0LWlu","Ctx":{"Dept":"Eng"},"Extra":"unclassified-value"}`)
	if res.status != http.StatusOK || runs != 1 {
		t.Fatalf("PutThing: %d %v, runs %d", res.status, res.body, runs)
	}
	if len(log.events) != 2 || log.events[0].EventType != "ArcaIntent" || log.events[1].EventType != "AwsApiCall" {
		t.Fatalf("events: %+v", log.events)
	}
	ev := log.events[1]
	if ev.RequestID != res.header.Get("x-amzn-RequestId") || ev.EventSource != "test.amazonaws.com" || ev.EventName != "PutThing" ||
		ev.ReadOnly || ev.UserIdentity.Type != "Root" || ev.RecipientAccountID != "000000000000" || ev.AWSRegion != "us-east-1" {
		t.Errorf("event: %+v", ev)
	}
	want := `{"ctx":{"Dept":"Eng"},"extra":"HIDDEN_DUE_TO_SECURITY_REASONS","name":"n1"}`
	if string(ev.RequestParameters) != want {
		t.Errorf("requestParameters = %s; want %s", ev.RequestParameters, want)
	}
	if string(ev.ResponseElements) != `{"name":"n1"}` || string(ev.AdditionalEventData) != `{"keyMaterialId":"km2"}` {
		t.Errorf("responseElements = %s, additionalEventData = %s", ev.ResponseElements, ev.AdditionalEventData)
	}
	b, _ := json.Marshal(log.events)
	for _, secret := range []string{"secret-in", "c2VjcmV0LWlu", "response-secret", "unclassified-value"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("%q recorded", secret)
		}
	}

	// A read-only operation: one event, no response elements.
	log.events = nil
	do(t, s, "TestService.GetThing", "us-east-1/test", `{"Name":"n2"}`)
	if len(log.events) != 1 || !log.events[0].ReadOnly || string(log.events[0].ResponseElements) != "null" ||
		string(log.events[0].AdditionalEventData) != `{"keyMaterialId":"km1"}` {
		t.Errorf("GetThing events: %+v", log.events)
	}
	// A read-only operation whose output has nothing for
	// additionalEventData: none.
	log.events = nil
	do(t, s, "TestService.ListThings", "us-east-1/test", `{"Name":"n3"}`)
	if len(log.events) != 1 || !log.events[0].ReadOnly || string(log.events[0].ResponseElements) != "null" ||
		log.events[0].AdditionalEventData != nil {
		t.Errorf("ListThings events: %+v", log.events)
	}
	// Refused before any operation: recorded with the error, no caller.
	log.events = nil
	r := do(t, s, "TestService.GetThing", "us-east-1/test", `{}`, func(r *http.Request) { r.Header.Del("Authorization") })
	if len(log.events) != 1 || log.events[0].ErrorCode != "MissingAuthenticationTokenException" || r.status != 400 {
		t.Errorf("unauthenticated: %d, events %+v", r.status, log.events)
	}
}

func TestAuditFailClosed(t *testing.T) {
	t.Run("read-only: output withheld", func(t *testing.T) {
		log := &fakeLog{failAt: func(*audit.Event) bool { return true }}
		runs := 0
		res := do(t, auditServer(log, &runs), "TestService.GetThing", "us-east-1/test", `{"Name":"x"}`)
		if res.status != 500 || res.body["__type"] != "KMSInternalException" || res.body["Name"] != nil {
			t.Errorf("got %d %v", res.status, res.body)
		}
	})
	t.Run("mutating: intent fails, nothing runs", func(t *testing.T) {
		log := &fakeLog{failAt: func(ev *audit.Event) bool { return ev.EventType == "ArcaIntent" }}
		runs := 0
		s := auditServer(log, &runs)
		res := do(t, s, "TestService.PutThing", "us-east-1/test", `{"Name":"x"}`)
		if res.status != 500 || runs != 0 {
			t.Errorf("got %d %v, runs %d", res.status, res.body, runs)
		}
		// The refusal itself is recorded, and the server still serves.
		if len(log.events) != 1 || log.events[0].ErrorCode != "KMSInternalException" {
			t.Errorf("events %+v", log.events)
		}
		log.failAt = nil
		if res := do(t, s, "TestService.PutThing", "us-east-1/test", `{"Name":"x"}`); res.status != 200 || runs != 1 {
			t.Errorf("after recovery: %d, runs %d", res.status, runs)
		}
	})
	t.Run("mutating: outcome fails, server refuses everything after", func(t *testing.T) {
		log := &fakeLog{failAt: func(ev *audit.Event) bool { return ev.EventType == "AwsApiCall" }}
		runs := 0
		s := auditServer(log, &runs)
		res := do(t, s, "TestService.PutThing", "us-east-1/test", `{"Name":"x"}`)
		if res.status != 500 || runs != 1 || res.body["Name"] != nil {
			t.Errorf("got %d %v, runs %d", res.status, res.body, runs)
		}
		log.failAt = nil
		res = do(t, s, "TestService.GetThing", "us-east-1/test", `{"Name":"x"}`)
		if res.status != 500 || !s.audit.Failed() {
			t.Errorf("after an unrecorded outcome: %d %v", res.status, res.body)
		}
		if len(log.events) != 2 || log.events[0].EventType != "ArcaIntent" {
			t.Errorf("events %+v", log.events)
		}
	})
}
