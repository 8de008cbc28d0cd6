package rabbitmq

import (
	"maps"
	"testing"
)

func TestEnv(t *testing.T) {
	got := Service.Env("amqp://guest:guest@rabbitmq:5672/grader_run_abc")
	if want := map[string]string{"AMQP_URL": "amqp://guest:guest@rabbitmq:5672/grader_run_abc"}; !maps.Equal(got, want) {
		t.Errorf("Env = %v, want %v", got, want)
	}
}

func TestCredentials(t *testing.T) {
	if u, p := mgmtCredentials("http://admin:x@h:15672", "amqp://app:pw@h/"); u != "admin" || p != "x" {
		t.Errorf("mgmtCredentials = %q, %q: want the management URL's own", u, p)
	}
	if u, p := mgmtCredentials("http://h:15672", "amqp://app:pw@h/"); u != "app" || p != "pw" {
		t.Errorf("mgmtCredentials = %q, %q: want the AMQP URL's", u, p)
	}
}
