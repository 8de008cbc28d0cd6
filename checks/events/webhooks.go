package events

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// Variables of the webhooks (STAGES §8).
const (
	TimeoutVar   = "WEBHOOK_TIMEOUT_MS"
	RetryBaseVar = "WEBHOOK_RETRY_BASE_MS"
	AllowVar     = "WEBHOOK_ALLOW_HOSTS"
)

// firstAttempt bounds the first delivery after the API answered.
const firstAttempt = 3 * time.Second

func ms(h *harness.H, name string) time.Duration {
	n, _ := strconv.Atoi(h.Env[name])
	return time.Duration(n) * time.Millisecond
}

// needReceiver is the receiver, listening where the service reaches the
// grader.
func needReceiver(h *harness.H) (*receiver, error) {
	r := theReceiver()
	if err := r.listenOn(h.ServiceHost()); err != nil {
		return nil, grader.Environmentf("the grader's webhook receiver could not listen on %s: %v", h.ServiceHost(), err)
	}
	return r, nil
}

// register registers url for types as the user with token tok.
func register(ctx context.Context, h *harness.H, tok, url string, types ...string) (string, error) {
	v, err := send(ctx, h, harness.Request{Method: http.MethodPost, Path: "/webhooks", Token: tok, JSON: map[string]any{"url": url, "events": types}}, http.StatusCreated)
	if err != nil {
		return "", setup(err, "events.webhook-register", "registering a webhook")
	}
	secret, _ := v["secret"].(string)
	if secret == "" {
		return "", grader.Blockedf("events.webhook-register", "POST /webhooks returned no secret")
	}
	return secret, nil
}

// webhookRegistration: 201 {id, secret}; bad input 400 with errors; no
// token 401.
func webhookRegistration(ctx context.Context, h *harness.H) error {
	r, err := needReceiver(h)
	if err != nil {
		return err
	}
	url, _ := r.newInbox(h.ServiceHost(), h.Rand, nil)
	resp, err := h.Do(ctx, harness.Request{Method: http.MethodPost, Path: "/webhooks", JSON: map[string]any{"url": url, "events": []string{"todo.created", "todo.deleted"}}})
	if err != nil {
		return expect.Transport(err)
	}
	if err := expect.Status(resp, http.StatusCreated); err != nil {
		return expect.Hint(err, `POST /webhooks {"url", "events"} registers a webhook for the caller and answers 201 {"id", "secret"}`)
	}
	var body map[string]any
	if err := expect.Decode(resp, &body); err != nil {
		return err
	}
	if idText(body["id"]) == "" {
		return grader.Failf(`POST /webhooks answered 201 without an "id"`).WithHint(`answer 201 {"id": ..., "secret": ...}`)
	}
	if s, _ := body["secret"].(string); len(s) < 16 {
		return grader.Failf(`POST /webhooks answered 201 with "secret" %s, expected a random string of at least 16 characters`, expect.Describe(body["secret"])).
			WithHint("make a new random secret per webhook (e.g. 32 bytes, hex) and return it once: receivers verify signatures with it")
	}
	bad := []struct {
		what string
		body map[string]any
	}{
		{"a url that is not a URL", map[string]any{"url": "not a url " + expect.Word(h.Rand, 5), "events": []string{"todo.created"}}},
		{"a relative url", map[string]any{"url": "/hooks/" + expect.Word(h.Rand, 5), "events": []string{"todo.created"}}},
		{"an empty event list", map[string]any{"url": url, "events": []string{}}},
		{"an unknown event type", map[string]any{"url": url, "events": []string{"todo.created", "todo.archived"}}},
	}
	for _, b := range bad {
		resp, err := h.Do(ctx, harness.Request{Method: http.MethodPost, Path: "/webhooks", JSON: b.body})
		if err != nil {
			return expect.Transport(err)
		}
		if err := expect.Status(resp, http.StatusBadRequest); err != nil {
			return expect.Hint(expect.Note(err, "%s", b.what), "validate a webhook: an absolute http(s) url and a non-empty list of known event types (todo.created, todo.updated, todo.deleted); anything else is 400 with errors")
		}
		obj, err := expect.Object(resp)
		if err != nil {
			return err
		}
		if errs, ok := obj["errors"].(map[string]any); !ok || len(errs) == 0 {
			return grader.Failf(`POST /webhooks with %s answered 400 without an "errors" object naming the field`, b.what).
				WithHint(`answer {"message": ..., "errors": {"url": "why"}} (or "events")`)
		}
	}
	resp, err = h.Do(ctx, harness.Request{Method: http.MethodPost, Path: "/webhooks", NoAuth: true, JSON: map[string]any{"url": url, "events": []string{"todo.created"}}})
	if err != nil {
		return expect.Transport(err)
	}
	if h.Auth {
		return expect.Hint(expect.Note(expect.Status(resp, http.StatusUnauthorized), "no Authorization header"), "webhooks belong to a user: POST /webhooks needs a Bearer token like /todos")
	}
	return nil
}

// verify checks one delivery's headers and signature against the secret.
func verify(d delivery, secret string) error {
	if mt, _, err := mime.ParseMediaType(d.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return grader.Failf("a webhook request came with Content-Type %q, expected application/json", d.Header.Get("Content-Type"))
	}
	var e event
	if err := json.Unmarshal(d.Body, &e); err != nil {
		return grader.Failf("a webhook request's body is not the event as JSON: %s", harness.Shorten(string(d.Body), 300))
	}
	if got := d.Header.Get("X-Webhook-Id"); got == "" || got != e.ID {
		return grader.Failf("a webhook request has X-Webhook-Id %q, expected the event's id %q", got, e.ID).
			WithHint("send the event's id in X-Webhook-Id so receivers can drop repeated deliveries")
	}
	ts := d.Header.Get("X-Webhook-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 60*time.Second {
		return grader.Failf("a webhook request has X-Webhook-Timestamp %q, expected the Unix time of the attempt in seconds", ts).
			WithHint("send the attempt's time (Unix seconds) and sign it with the body")
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(d.Body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	if got := d.Header.Get("X-Webhook-Signature"); !hmac.Equal([]byte(got), []byte(want)) {
		return grader.Failf("a webhook request has X-Webhook-Signature %q; HMAC-SHA256 with the webhook's secret over timestamp + \".\" + body gives %q", harness.Shorten(got, 100), want).
			WithHint(`sign the exact bytes you send: "sha256=" + hex(HMAC-SHA256(key = the secret's UTF-8 bytes, message = X-Webhook-Timestamp + "." + body)); the timestamp in the signature stops replays`)
	}
	return nil
}

// webhookDelivered: an event of a listed type reaches the receiver within
// 2 s, signed; a second listed type too.
func webhookDelivered(ctx context.Context, h *harness.H) error {
	r, err := needReceiver(h)
	if err != nil {
		return err
	}
	url, box := r.newInbox(h.ServiceHost(), h.Rand, nil)
	secret, err := register(ctx, h, "", url, "todo.created", "todo.updated")
	if err != nil {
		return err
	}
	_, id, err := create(ctx, h, "")
	if err != nil {
		return err
	}
	sent := time.Now()
	got := box.wait(ctx, firstAttempt, func(ds []delivery) bool { return len(ds) > 0 })
	if len(got) == 0 {
		return grader.Failf("no webhook request reached %s within %s of creating todo %s (the webhook listens for todo.created)", url, firstAttempt, id).
			WithHint("POST each event of a listed type to the webhook's url within 2 s; %s lists the grader's host", AllowVar)
	}
	if took := got[0].Start.Sub(sent); took > firstAttempt {
		return grader.Failf("the first webhook request came %s after the event, expected within 2 s", took.Round(time.Millisecond))
	}
	if err := verify(got[0], secret); err != nil {
		return err
	}
	var e event
	_ = json.Unmarshal(got[0].Body, &e)
	if e.Type != "todo.created" || e.todoID() != id {
		return grader.Failf("the webhook request's body is a %q event about %q, expected the todo.created event of todo %s", e.Type, e.todoID(), id)
	}
	if _, err := send(ctx, h, harness.Request{Method: http.MethodPatch, Path: "/todos/" + id, JSON: map[string]any{"title": expect.Title(h.Rand)}}, http.StatusOK); err != nil {
		return setup(err, "rest.patch-partial", "PATCH /todos/{id}")
	}
	got = box.wait(ctx, firstAttempt, func(ds []delivery) bool { return len(ds) > 1 })
	if len(got) < 2 {
		return grader.Failf("no webhook request for the todo.updated event of todo %s within %s (the webhook listens for it)", id, firstAttempt)
	}
	return verify(got[1], secret)
}

// webhookRetried: 500, no answer within the timeout and a 302 are each
// retried; at least 3 attempts, delays at least the base and not
// shrinking, the redirect not followed.
func webhookRetried(ctx context.Context, h *harness.H) error {
	r, err := needReceiver(h)
	if err != nil {
		return err
	}
	base, timeout := ms(h, RetryBaseVar), ms(h, TimeoutVar)
	plan := func(n int) string { return map[int]string{1: "500", 2: "hang", 3: "302"}[n] }
	url, box := r.newInbox(h.ServiceHost(), h.Rand, plan)
	if _, err := register(ctx, h, "", url, "todo.created"); err != nil {
		return err
	}
	if _, _, err := create(ctx, h, ""); err != nil {
		return err
	}
	got := box.wait(ctx, 30*time.Second, func(ds []delivery) bool { return len(ds) >= 3 })
	if len(got) < 3 {
		answers := []string{"500", "no answer within " + TimeoutVar, "302"}
		return grader.Failf("%d webhook attempt(s) within 30 s, expected at least 3 (the receiver answered %v)", len(got), answers[:len(got)]).
			WithHint("retry a delivery that got a non-2xx answer (3xx included) or none within %s: at least 3 attempts, waiting %s or longer between them", TimeoutVar, RetryBaseVar)
	}
	if hung := got[1].End.Sub(got[1].Start); hung > timeout+1500*time.Millisecond {
		return grader.Failf("the second attempt, which the receiver never answered, was held open for %s: expected the service to give up after %s=%s", hung.Round(time.Millisecond), TimeoutVar, timeout).
			WithHint("set a timeout of WEBHOOK_TIMEOUT_MS on each delivery request")
	}
	tolerance := 50 * time.Millisecond
	var prev time.Duration
	for i := 1; i < 3; i++ {
		d := got[i].Start.Sub(got[i-1].End)
		if d < base-tolerance {
			return grader.Failf("attempt %d came %s after attempt %d ended, expected at least %s=%s", i+1, d.Round(time.Millisecond), i, RetryBaseVar, base).
				WithHint("wait at least WEBHOOK_RETRY_BASE_MS before a retry, longer each time (e.g. doubling)")
		}
		if d < prev-4*tolerance {
			return grader.Failf("the delay before attempt %d (%s) is shorter than the one before it (%s)", i+1, d.Round(time.Millisecond), prev.Round(time.Millisecond)).
				WithHint("never shorten the delay between retries: back off (e.g. base, 2·base, 4·base)")
		}
		prev = d
		if got[i].Header.Get("X-Webhook-Id") != got[0].Header.Get("X-Webhook-Id") {
			return grader.Failf("attempt %d carries X-Webhook-Id %q, attempt 1 %q: a retry is the same event", i+1, got[i].Header.Get("X-Webhook-Id"), got[0].Header.Get("X-Webhook-Id"))
		}
	}
	// A followed redirect shows at once; wait for a 4th attempt or a moment.
	box.wait(ctx, min(base, time.Second), func(ds []delivery) bool { return len(ds) >= 4 })
	box.mu.Lock()
	followed := box.redirected
	box.mu.Unlock()
	if followed > 0 {
		return grader.Failf("the service followed the receiver's 302 redirect to another URL").
			WithHint("do not follow redirects when delivering webhooks (a redirect can point anywhere, e.g. at an internal address): treat a 3xx as a failed attempt")
	}
	return nil
}

// webhookIsolated: another user's events never reach a user's webhook.
func webhookIsolated(ctx context.Context, h *harness.H) error {
	if !h.Auth {
		return grader.Skipf("needs the auth stage")
	}
	r, err := needReceiver(h)
	if err != nil {
		return err
	}
	other, err := h.NewUser(ctx)
	if err != nil {
		return grader.Blockedf("auth.register-login", "registering a second user: %v", err)
	}
	url, box := r.newInbox(h.ServiceHost(), h.Rand, nil)
	if _, err := register(ctx, h, other.Token, url, "todo.created"); err != nil {
		return err
	}
	_, mine, err := create(ctx, h, "")
	if err != nil {
		return err
	}
	_, theirs, err := create(ctx, h, other.Token)
	if err != nil {
		return err
	}
	aboutTodo := func(d delivery) string {
		var e event
		_ = json.Unmarshal(d.Body, &e)
		return e.todoID()
	}
	got := box.wait(ctx, firstAttempt, func(ds []delivery) bool {
		for _, d := range ds {
			if aboutTodo(d) == theirs {
				return true
			}
		}
		return false
	})
	for _, d := range got {
		if aboutTodo(d) == mine {
			return grader.Failf("the webhook of one user received the todo.created event of another user's todo %s", mine).
				WithHint("deliver an event only to the webhooks of the todo's owner")
		}
	}
	for _, d := range got {
		if aboutTodo(d) == theirs {
			return nil
		}
	}
	return grader.Blockedf("events.webhook-delivery", "the webhook's own user's event never arrived, so isolation could not be judged")
}
