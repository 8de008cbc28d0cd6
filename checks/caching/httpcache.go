package caching

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// etag returns the response's ETag or a failure when there is none.
func etag(resp *harness.Response, id string) (string, error) {
	e := strings.TrimSpace(resp.Header.Get("ETag"))
	if e == "" {
		return "", grader.Failf("GET /todos/%s answered 200 without an ETag header", id).
			WithHint(`send an ETag that identifies this version of the todo, e.g. a quoted hash of the JSON body ("..."), on every 200`)
	}
	return e, nil
}

// getETag GETs /todos/{id} as the default user (expecting 200) and returns
// the response and its ETag, or a failure when there is none.
func getETag(ctx context.Context, h *harness.H, id string) (*harness.Response, string, error) {
	resp, _, err := getTodo(ctx, h, "", id)
	if err != nil {
		return nil, "", err
	}
	e, err := etag(resp, id)
	return resp, e, err
}

// etagNotModified: the ETag is the same for two GETs of an unchanged todo
// (a MISS and a HIT), and If-None-Match with it answers 304 without a body,
// sent once in a browser's User-Agent and once in another client's (the
// second form of DESIGN §3.2: conditional requests are not for browsers
// only).
func etagNotModified(ctx context.Context, h *harness.H) error {
	t, err := create(ctx, h, "")
	if err != nil {
		return err
	}
	r1, e1, err := getETag(ctx, h, t.ID)
	if err != nil {
		return err
	}
	r2, e2, err := getETag(ctx, h, t.ID)
	if err != nil {
		return err
	}
	if e1 != e2 {
		return grader.Failf("two GETs of the same unchanged todo (%s, then %s) had different ETags: %s then %s", describeXCache(r1), describeXCache(r2), e1, e2).
			WithHint("derive the ETag from the todo's content (e.g. a hash of the JSON, or its id and updatedAt), never from the time of the request, so a HIT and a MISS agree")
	}
	browser, tool := harness.BrowserAndToolUserAgents(h.Rand)
	if h.Rand.IntN(2) == 0 {
		browser, tool = tool, browser
	}
	for i, ua := range []string{browser, tool} {
		resp, err := get(ctx, h, "", t.ID, http.Header{"If-None-Match": {e1}, "User-Agent": {ua}})
		if err != nil {
			return err
		}
		if resp.Status != http.StatusNotModified {
			f := grader.Failf("GET /todos/%s with If-None-Match: %s (its current ETag): expected 304 Not Modified, got %s", t.ID, e1, expect.StatusText(resp.Status))
			if i > 0 {
				return f.WithHint("the same conditional GET from another client (User-Agent %q) was answered differently: compare If-None-Match with the ETag for every client, not only some", ua)
			}
			return f.WithHint("compare the request's If-None-Match with the todo's current ETag and, when one matches, answer 304 with no body")
		}
		if len(resp.Body) > 0 {
			return grader.Failf("the 304 for GET /todos/%s has a body of %d bytes: a 304 has none", t.ID, len(resp.Body)).
				WithHint("answer 304 with headers only: write the status and return without writing the todo")
		}
	}
	return nil
}

// etagChangesOnUpdate: after PATCH the todo has another ETag, and the old
// one no longer gets a 304.
func etagChangesOnUpdate(ctx context.Context, h *harness.H) error {
	t, err := create(ctx, h, "")
	if err != nil {
		return err
	}
	_, e1, err := getETag(ctx, h, t.ID)
	if err != nil {
		return err
	}
	// An ETag made from updatedAt to the second (as the hint below allows)
	// changes only in another second: the update waits for the next one.
	wait := time.Until(time.Now().Truncate(time.Second).Add(time.Second + 20*time.Millisecond))
	h.Record("note", "waiting "+wait.Round(time.Millisecond).String(), "so that the update falls in another second than the create (updatedAt to the second)")
	select {
	case <-time.After(wait):
	case <-ctx.Done():
		return ctx.Err()
	}
	title := "renamed " + expect.Title(h.Rand)
	if err := write(ctx, h, http.MethodPatch, t.ID, map[string]string{"title": title}); err != nil {
		return err
	}
	r2, got, err := getTodo(ctx, h, "", t.ID)
	if err != nil {
		return err
	}
	if got.Title != title {
		return grader.Failf("after PATCH /todos/%s renamed it to %q, GET still served title %q (%s): the ETag can only change once the update is served", t.ID, title, got.Title, describeXCache(r2)).
			WithHint("%s", staleHint)
	}
	e2, err := etag(r2, t.ID)
	if err != nil {
		return err
	}
	if e2 == e1 {
		return grader.Failf("the todo's ETag stayed %s after PATCH changed its title: expected a new ETag", e1).
			WithHint("the ETag must change whenever the representation changes: hash the JSON body, or include updatedAt, not just the id")
	}
	resp, err := get(ctx, h, "", t.ID, http.Header{"If-None-Match": {e1}})
	if err != nil {
		return err
	}
	if resp.Status != http.StatusOK {
		return grader.Failf("GET /todos/%s with the ETag from before the update (If-None-Match: %s): expected 200 with the new version, got %s", t.ID, e1, expect.StatusText(resp.Status)).
			WithHint("answer 304 only when If-None-Match matches the todo's current ETag")
	}
	return nil
}

// cacheControlPrivate: GET /todos/{id} carries Cache-Control with the
// private directive, on a MISS and on a HIT.
func cacheControlPrivate(ctx context.Context, h *harness.H) error {
	t, err := create(ctx, h, "")
	if err != nil {
		return err
	}
	for range 2 {
		resp, _, err := getTodo(ctx, h, "", t.ID)
		if err != nil {
			return err
		}
		cc := resp.Header.Values("Cache-Control")
		if !hasDirective(cc, "private") {
			got := "no Cache-Control header"
			if len(cc) > 0 {
				got = "Cache-Control: " + strings.Join(cc, ", ")
			}
			return grader.Failf("GET /todos/%s (%s): expected Cache-Control with the private directive, got %s", t.ID, describeXCache(resp), got).
				WithHint("a todo belongs to one user: say Cache-Control: private (e.g. private, max-age=0, must-revalidate) so shared caches and proxies never store it, on HITs and MISSes alike")
		}
	}
	return nil
}

// hasDirective reports whether the Cache-Control values hold directive.
func hasDirective(values []string, directive string) bool {
	for _, v := range values {
		for _, d := range strings.Split(v, ",") {
			name, _, _ := strings.Cut(strings.TrimSpace(d), "=")
			if strings.EqualFold(strings.TrimSpace(name), directive) {
				return true
			}
		}
	}
	return false
}
