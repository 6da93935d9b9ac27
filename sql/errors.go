// Package sql turns PostgreSQL-dialect SQL text into Bellows statements:
// it parses with the real PostgreSQL parser (pg_query), resolves names and
// types against a Catalog, and produces logical plans (package planner).
package sql

import (
	"errors"
	"fmt"
	"strings"

	pgparser "github.com/pganalyze/pg_query_go/v6/parser"
)

// Error is a SQL error with the place it refers to. Line and Column are
// 1-based; both are 0 when the error has no position.
type Error struct {
	Msg    string
	Line   int
	Column int
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s (at line %d, column %d)", e.Msg, e.Line, e.Column)
	}
	return e.Msg
}

// position converts a byte offset in text to a 1-based line and column
// (column counted in characters).
func position(text string, off int) (int, int) {
	if off < 0 || off > len(text) {
		return 0, 0
	}
	before := text[:off]
	line := strings.Count(before, "\n") + 1
	col := len([]rune(before[strings.LastIndex(before, "\n")+1:])) + 1
	return line, col
}

// errorAt builds an Error for the byte offset loc of text (loc < 0: none).
func errorAt(text string, loc int32, format string, args ...any) *Error {
	e := &Error{Msg: fmt.Sprintf(format, args...)}
	if loc >= 0 {
		e.Line, e.Column = position(text, int(loc))
	}
	return e
}

// parseError converts a pg_query error into an Error with a position.
func parseError(text string, err error) error {
	var pe *pgparser.Error
	if errors.As(err, &pe) {
		e := &Error{Msg: pe.Message}
		if pe.Cursorpos > 0 {
			// Cursorpos is 1-based in characters.
			r := []rune(text)
			off := pe.Cursorpos - 1
			if off > len(r) {
				off = len(r)
			}
			e.Line, e.Column = position(text, len(string(r[:off])))
		}
		return e
	}
	return &Error{Msg: err.Error()}
}
