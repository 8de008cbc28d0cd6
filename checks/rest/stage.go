// Package rest is stage 2 of the tasks track: a JSON resource, /todos, with
// create, read, replace, partial update, delete, validation and a list.
// Memory storage is fine at this stage. Every check creates the todos it
// works on, so checks do not depend on each other or on their order.
package rest

import (
	_ "embed"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/skills"
)

//go:embed spec.md
var spec string

var (
	crud       = []string{skills.RESTDesign, skills.JSON}
	validation = []string{skills.Validation, skills.RESTDesign}
)

// Stage is the rest stage.
var Stage = grader.Stage{
	ID:    "rest",
	Title: "A JSON resource",
	Spec:  spec,
	Checks: []grader.Check{
		{ID: "rest.create", Title: "POST /todos answers 201 with the todo, its id and RFC 3339 timestamps", Points: 3, Skills: crud, Run: create},
		{ID: "rest.create-defaults", Title: "A todo created with only a title gets status \"todo\" and an empty description", Points: 2, Skills: crud, Run: createDefaults},
		{ID: "rest.location", Title: "The Location header of a create leads to the new todo", Points: 2, Skills: crud, Run: location},
		{ID: "rest.get", Title: "GET /todos/{id} answers the todo", Points: 2, Skills: crud, Run: get},
		{ID: "rest.put-replaces", Title: "PUT replaces the whole todo and moves updatedAt", Points: 3, Skills: crud, Run: putReplaces},
		{ID: "rest.patch-partial", Title: "PATCH changes only the fields sent", Points: 3, Skills: crud, Run: patchPartial},
		{ID: "rest.delete", Title: "DELETE answers 204, then the todo is gone (404)", Points: 2, Skills: crud, Run: deleteTodo},
		{ID: "rest.validation-title", Title: "A missing, empty or too long title answers 400 with errors.title", Points: 2, Skills: validation, Run: validationTitle},
		{ID: "rest.title-unicode", Title: "A title of 200 Unicode characters is accepted and stored exactly", Points: 2, Skills: validation, Run: titleUnicode},
		{ID: "rest.validation-status", Title: "An unknown status answers 400 with errors.status", Points: 2, Skills: validation, Run: validationStatus},
		{ID: "rest.malformed-json", Title: "Malformed JSON answers 400 with a message", Points: 2, Skills: validation, Run: malformedJSON},
		{ID: "rest.unsupported-media-type", Title: "A body that is not JSON answers 415", Points: 1, Skills: []string{skills.HTTP, skills.RESTDesign}, Run: unsupportedMediaType},
		{ID: "rest.unknown-id", Title: "GET, PUT and PATCH on an unknown id answer 404", Points: 2, Skills: crud, Run: unknownID},
		{ID: "rest.list", Title: "GET /todos lists created todos as {data, page, limit, total}", Points: 3, Skills: []string{skills.RESTDesign, skills.Pagination}, Run: list},
	},
}
