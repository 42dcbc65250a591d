package epoch

import (
	"encoding/json"
	"testing"
	"time"
)

func TestMarshal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Unix(1700000000, 0), "1700000000"},
		{time.Unix(1700000000, 123_000_000), "1700000000.123"},
		{time.Unix(1700000000, 123_999_999), "1700000000.123"},
		{time.Unix(0, 0), "0"},
	}
	for _, tc := range tests {
		b, err := json.Marshal(New(tc.in))
		if err != nil || string(b) != tc.want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tc.in, b, err, tc.want)
		}
	}
}

func TestUnmarshal(t *testing.T) {
	t.Parallel()
	var tm Time
	if err := json.Unmarshal([]byte("1700000000.5"), &tm); err != nil {
		t.Fatal(err)
	}
	if want := time.Unix(1700000000, 500_000_000); !tm.Equal(want) {
		t.Errorf("got %v, want %v", tm.Time, want)
	}
	if err := json.Unmarshal([]byte(`"2024-01-01"`), &tm); err == nil {
		t.Error("string timestamp accepted")
	}
}
