package verdict

import (
	"errors"
	"fmt"
	"testing"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		err  error
		want Outcome
	}{
		{nil, Outcome{Status: Pass}},
		{Failf("got %d", 500).WithHint("h"), Outcome{Status: Fail, Message: "got 500", Hint: "h"}},
		{fmt.Errorf("wrapped: %w", Skipf("no docker")), Outcome{Status: Skip, Message: "no docker"}},
		{Errorf("timed out"), Outcome{Status: Error, Message: "timed out"}},
		{Blockedf("auth.register-login", "register answered 500"), Outcome{Status: Blocked, Message: "register answered 500", BlockedBy: "auth.register-login"}},
		{errors.New("plain"), Outcome{Status: Fail, Message: "plain"}},
	}
	for _, c := range cases {
		if got := Classify(c.err); got != c.want {
			t.Errorf("Classify(%v) = %+v, want %+v", c.err, got, c.want)
		}
	}
	if !IsEnvironment(fmt.Errorf("x: %w", Environmentf("no postgres"))) {
		t.Error("IsEnvironment missed a wrapped Environment")
	}
	if IsEnvironment(Failf("x")) {
		t.Error("IsEnvironment took a Failure for an Environment")
	}
}
