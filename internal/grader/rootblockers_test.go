package grader

import "testing"

func TestBlockedChecksNameTheRootOfTheirCause(t *testing.T) {
	r := &Report{Stages: []StageResult{{ID: "s", Checks: []CheckResult{
		{ID: "auth.register-login", Status: StatusFail, MaxPoints: 2, Message: "got 500"},
		{ID: "rest.create", Status: StatusBlocked, BlockedBy: "auth.register-login", MaxPoints: 3, Message: "registering failed"},
		{ID: "persistence.sort", Status: StatusBlocked, BlockedBy: "rest.create", MaxPoints: 2, Message: "creating a todo failed"},
		{ID: "a.loop", Status: StatusBlocked, BlockedBy: "b.loop", MaxPoints: 1},
		{ID: "b.loop", Status: StatusBlocked, BlockedBy: "a.loop", MaxPoints: 1},
	}}}}
	r.Tally()
	got := map[string]string{}
	for _, c := range r.Stages[0].Checks {
		got[c.ID] = c.BlockedBy
	}
	if got["persistence.sort"] != "auth.register-login" || got["rest.create"] != "auth.register-login" {
		t.Errorf("blockedBy = %v, want both chains to end at auth.register-login", got)
	}
	if len(r.Causes) == 0 || r.Causes[0].Check != "auth.register-login" || r.Causes[0].Count != 2 {
		t.Errorf("causes = %+v, want auth.register-login first, blocking 2", r.Causes)
	}
	if got["a.loop"] == "" || got["b.loop"] == "" {
		t.Errorf("a cycle lost its blocker: %v", got)
	}
}
