package secrets

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/svcerr"
)

// labels renders VersionIdsToStages compactly: "a:AWSCURRENT,X b:AWSPREVIOUS".
func labels(r *record) string {
	m := stagesMap(r)
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(m)) {
		st := slices.Clone(m[id])
		slices.Sort(st)
		parts = append(parts, id+":"+strings.Join(st, ","))
	}
	return strings.Join(parts, " ")
}

func TestStageTransitions(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type step struct {
		put    string    // add version put with these stages, or
		stages []string  //
		move   [3]string // stage, moveTo, removeFrom
		code   svcerr.Code
		want   string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"first version is current even with other labels", []step{
			{put: "a", stages: []string{"X"}, want: "a:AWSCURRENT,X"},
		}},
		{"current moves, previous follows", []step{
			{put: "a", want: "a:AWSCURRENT"},
			{put: "b", want: "a:AWSPREVIOUS b:AWSCURRENT"},
			{put: "c", want: "b:AWSPREVIOUS c:AWSCURRENT"},
		}},
		{"a custom label does not move current", []step{
			{put: "a", want: "a:AWSCURRENT"},
			{put: "b", stages: []string{"AWSPENDING"}, want: "a:AWSCURRENT b:AWSPENDING"},
		}},
		{"finishSecret: move current to pending", []step{
			{put: "a", want: "a:AWSCURRENT"},
			{put: "b", stages: []string{"AWSPENDING"}},
			{move: [3]string{"AWSCURRENT", "b", "a"}, want: "a:AWSPREVIOUS b:AWSCURRENT,AWSPENDING"},
		}},
		{"moving a held label needs RemoveFromVersionId", []step{
			{put: "a"}, {put: "b", stages: []string{"X"}},
			{move: [3]string{"AWSCURRENT", "b", ""}, code: svcerr.InvalidParameter, want: "a:AWSCURRENT b:X"},
		}},
		{"RemoveFromVersionId must hold the label", []step{
			{put: "a"}, {put: "b", stages: []string{"X"}},
			{move: [3]string{"X", "a", "a"}, code: svcerr.InvalidParameter, want: "a:AWSCURRENT b:X"},
		}},
		{"current cannot just be removed", []step{
			{put: "a"},
			{move: [3]string{"AWSCURRENT", "", "a"}, code: svcerr.InvalidParameter, want: "a:AWSCURRENT"},
		}},
		{"a custom label can be removed", []step{
			{put: "a"}, {put: "b", stages: []string{"X"}},
			{move: [3]string{"X", "", "b"}, want: "a:AWSCURRENT"},
		}},
		{"moving current onto previous swaps them", []step{
			{put: "a"}, {put: "b"},
			{move: [3]string{"AWSCURRENT", "a", "b"}, want: "a:AWSCURRENT b:AWSPREVIOUS"},
		}},
		{"unknown version", []step{
			{put: "a"},
			{move: [3]string{"X", "zz", ""}, code: svcerr.ResourceNotFound, want: "a:AWSCURRENT"},
		}},
		{"a free label is attached without RemoveFromVersionId", []step{
			{put: "a"}, {put: "b", stages: []string{"X"}},
			{move: [3]string{"Y", "a", ""}, want: "a:AWSCURRENT,Y b:X"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &record{}
			for i, st := range tc.steps {
				var err error
				before := r.clone()
				if st.put != "" {
					_, err = addVersion(r, &version{ID: st.put, Created: t0}, st.stages, t0)
				} else {
					err = moveStage(r, st.move[0], st.move[1], st.move[2])
				}
				if svcerr.CodeOf(err) != st.code {
					t.Fatalf("step %d: err %v, want code %q", i, err, st.code)
				}
				if err != nil {
					r = before // the service discards a failed transaction's changes
				}
				if st.want != "" && labels(r) != st.want {
					t.Fatalf("step %d: labels %q, want %q", i, labels(r), st.want)
				}
			}
		})
	}
}

func TestPruneDeprecated(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &record{}
	for i := range maxVersions {
		if _, err := addVersion(r, &version{ID: "old" + string(rune('A'+i%26)) + strings.Repeat("x", i/26), Created: t0}, nil, t0); err != nil {
			t.Fatal(err)
		}
	}
	later := t0.Add(25 * time.Hour)
	pruned, err := addVersion(r, &version{ID: "new", Created: later}, nil, later)
	if err != nil || len(pruned) != 1 || len(r.Versions) != maxVersions {
		t.Fatalf("pruned %v, %d versions, %v; want the oldest deprecated one pruned", pruned, len(r.Versions), err)
	}
	if labels(r) != "new:AWSCURRENT oldVxxx:AWSPREVIOUS" {
		t.Fatalf("labels %q", labels(r))
	}
	// Versions younger than a day are never pruned: the limit refuses.
	r2 := &record{}
	for i := range maxVersions {
		addVersion(r2, &version{ID: strings.Repeat("y", i+1), Created: t0}, nil, t0)
	}
	if _, err := addVersion(r2, &version{ID: "z", Created: t0}, nil, t0); svcerr.CodeOf(err) != svcerr.LimitExceeded {
		t.Fatalf("101st version within a day: %v, want LimitExceededException", err)
	}
}

func TestRandomPassword(t *testing.T) {
	classes := []string{lowercase, uppercase, digits, punctuation}
	for range 200 {
		pw, err := randomPassword(passwordSpec{length: 4, requireEach: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, cl := range classes {
			if !strings.ContainsAny(pw, cl) {
				t.Fatalf("%q lacks a character of %q", pw, cl)
			}
		}
	}
	pw, err := randomPassword(passwordSpec{length: 64, exclude: "abc0", noPunct: true, space: true, requireEach: true})
	if err != nil || len(pw) != 64 || strings.ContainsAny(pw, "abc0!#") || !strings.Contains(pw, " ") {
		t.Fatalf("password %q, %v", pw, err)
	}
	if _, err := randomPassword(passwordSpec{length: 3, requireEach: true}); svcerr.CodeOf(err) != svcerr.InvalidParameter {
		t.Fatalf("3 characters for 4 required classes: %v", err)
	}
	if _, err := randomPassword(passwordSpec{length: 8, noLower: true, noUpper: true, noNumbers: true, exclude: punctuation}); svcerr.CodeOf(err) != svcerr.InvalidParameter {
		t.Fatalf("nothing left: %v", err)
	}
}
