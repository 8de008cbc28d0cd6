package rest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"unicode/utf8"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// maxTitle is the longest title, in Unicode code points.
const maxTitle = 200

// badRequest sends r and expects 400 with a message and, when field is not
// "", errors.<field>.
func badRequest(ctx context.Context, h *harness.H, r harness.Request, what, field, hint string) error {
	return expect.Note(badRequestResp(ctx, h, r, field, hint), "%s", what)
}

func badRequestResp(ctx context.Context, h *harness.H, r harness.Request, field, hint string) error {
	resp, err := h.Do(ctx, r)
	if err != nil {
		return expect.Transport(err)
	}
	if err := expect.Status(resp, http.StatusBadRequest); err != nil {
		if resp.Status < 300 {
			return expect.Hint(err, "%s", hint)
		}
		return err
	}
	if err := expect.Message(resp); err != nil {
		return err
	}
	if field != "" {
		return expect.FieldError(resp, field)
	}
	return nil
}

// validationTitle: POST without a title, with "", with 201 code points, and
// PUT without a title -> 400 with errors.title.
func validationTitle(ctx context.Context, h *harness.H) error {
	long := expect.TitleOfLen(h.Rand, maxTitle+1)
	cases := []struct {
		what string
		body map[string]any
		hint string
	}{
		{"a body without a title", map[string]any{"description": "no title here"}, "title is required: reject a body without it with 400 and errors.title"},
		{"an empty title", map[string]any{"title": ""}, "an empty title is as good as none: titles are 1 to 200 characters"},
		{fmt.Sprintf("a title of %d characters", maxTitle+1), map[string]any{"title": long}, "titles are at most 200 characters (Unicode code points): reject longer ones with 400 and errors.title"},
	}
	for _, c := range cases {
		r := harness.Request{Method: http.MethodPost, Path: "/todos", JSON: c.body}
		if err := badRequest(ctx, h, r, c.what, "title", c.hint); err != nil {
			return err
		}
	}
	t, err := createTodo(ctx, h, newTodo(h))
	if err != nil {
		return err
	}
	r := harness.Request{Method: http.MethodPut, Path: todoPath(id(t)), JSON: map[string]any{"description": "replaced without a title"}}
	return badRequest(ctx, h, r, "a PUT body without a title", "title", "PUT replaces the whole todo, so title is required there too: validate PUT bodies like POST bodies")
}

// titleUnicode: a title of exactly 200 code points, most of them several
// bytes long, is accepted and comes back byte for byte.
func titleUnicode(ctx context.Context, h *harness.H) error {
	title := expect.TitleOfLen(h.Rand, maxTitle)
	resp, err := h.Do(ctx, harness.Request{Method: http.MethodPost, Path: "/todos", JSON: map[string]any{"title": title}})
	if err != nil {
		return expect.Transport(err)
	}
	hint := fmt.Sprintf("count characters as Unicode code points, not bytes (this title is %d bytes in UTF-8) nor UTF-16 units (in JavaScript, [...title].length)", len(title))
	if err := expect.Status(resp, http.StatusCreated, http.StatusOK); err != nil {
		if resp.Status == http.StatusBadRequest {
			return expect.Hint(err, "%s", hint)
		}
		return err
	}
	got, err := expect.Object(resp)
	if err != nil {
		return err
	}
	gt, _ := got["title"].(string)
	if gt != title {
		return grader.Failf("POST /todos with a title of %d characters: the title came back changed (%d characters, %d bytes) %s",
			maxTitle, utf8.RuneCountInString(gt), len(gt), expect.Diff(title, got["title"])).
			WithHint("store and return the title exactly as received: no truncation, no re-encoding, UTF-8 throughout (database columns included)")
	}
	return nil
}

// validationStatus: a status outside todo|in_progress|done -> 400 with
// errors.status, on POST and on PATCH.
func validationStatus(ctx context.Context, h *harness.H) error {
	r := harness.Request{Method: http.MethodPost, Path: "/todos", JSON: map[string]any{"title": expect.Title(h.Rand), "status": "archived"}}
	hint := `status is one of "todo", "in_progress", "done": reject anything else with 400 and errors.status`
	if err := badRequest(ctx, h, r, `status "archived"`, "status", hint); err != nil {
		return err
	}
	t, err := createTodo(ctx, h, newTodo(h))
	if err != nil {
		return err
	}
	r = harness.Request{Method: http.MethodPatch, Path: todoPath(id(t)), JSON: map[string]any{"status": "finished"}}
	return badRequest(ctx, h, r, `PATCH with status "finished"`, "status", "PATCH must validate the fields it is sent like POST does: \"finished\" is not a status")
}

// malformedJSON: a body cut in the middle, and one with a number for the
// title -> 400 with a message (not a 500).
func malformedJSON(ctx context.Context, h *harness.H) error {
	json := http.Header{"Content-Type": {"application/json"}}
	cases := []struct{ what, body string }{
		{"a JSON body cut short", `{"title": "half a todo", "status": "to`},
		{"a JSON body with a number for the title", `{"title": 42}`},
	}
	for _, c := range cases {
		r := harness.Request{Method: http.MethodPost, Path: "/todos", Header: json, Body: []byte(c.body)}
		if err := expect.Note(malformed(ctx, h, r), "%s", c.what); err != nil {
			return err
		}
	}
	return nil
}

func malformed(ctx context.Context, h *harness.H, r harness.Request) error {
	resp, err := h.Do(ctx, r)
	if err != nil {
		return expect.Transport(err)
	}
	if err := expect.Status(resp, http.StatusBadRequest); err != nil {
		switch {
		case resp.Status >= 500:
			return expect.Hint(err, "a body that cannot be decoded is the client's mistake: answer 400 with a message instead of failing")
		case resp.Status < 300:
			return expect.Hint(err, "check the decoding error before using the result: such a body must not create a todo")
		}
		return err
	}
	return expect.Message(resp)
}

// unsupportedMediaType: a JSON-looking body sent as text/plain, a
// form-encoded body and a multipart one -> 415 with a message each;
// application/json with a charset parameter is JSON.
func unsupportedMediaType(ctx context.Context, h *harness.H) error {
	body := []byte(fmt.Sprintf(`{"title": %q}`, expect.Title(h.Rand)))
	charset := harness.Request{Method: http.MethodPost, Path: "/todos", Body: body,
		Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}}}
	resp, err := h.Do(ctx, charset)
	if err != nil {
		return expect.Transport(err)
	}
	if err := expect.Status(resp, http.StatusCreated, http.StatusOK); err != nil {
		if resp.Status == http.StatusUnsupportedMediaType || resp.Status == http.StatusBadRequest {
			return expect.Hint(err, "\"application/json; charset=utf-8\" is JSON: parse the media type and ignore its parameters instead of comparing the whole header")
		}
		return err
	}
	title := expect.Title(h.Rand)
	boundary := fmt.Sprintf("----form%08x", h.Rand.Uint32())
	others := []struct {
		what, contentType string
		body              []byte
	}{
		{"a JSON body sent as text/plain", "text/plain", body},
		{"a form-encoded body", "application/x-www-form-urlencoded", []byte("title=" + url.QueryEscape(title))},
		{"a multipart form body", "multipart/form-data; boundary=" + boundary,
			[]byte("--" + boundary + "\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n" + title + "\r\n--" + boundary + "--\r\n")},
	}
	for _, o := range others {
		resp, err = h.Do(ctx, harness.Request{Method: http.MethodPost, Path: "/todos", Body: o.body,
			Header: http.Header{"Content-Type": {o.contentType}}})
		if err != nil {
			return expect.Transport(err)
		}
		if err := expect.Status(resp, http.StatusUnsupportedMediaType); err != nil {
			err = expect.Note(err, "%s", o.what)
			if resp.Status < 300 {
				return expect.Hint(err, "look at the request's Content-Type: a body that is not declared as application/json is refused with 415 Unsupported Media Type")
			}
			return expect.Hint(err, "a body of the wrong media type is 415 Unsupported Media Type, whichever type it is: check the Content-Type is application/json before decoding, rather than refusing one type by name")
		}
		if err := expect.Message(resp); err != nil {
			return expect.Note(err, "%s", o.what)
		}
	}
	return nil
}
