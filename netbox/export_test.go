package netbox

import (
	"encoding/json"

	"github.com/osism/go-osism/statemachine"
)

// What the fuzz targets of package netbox_test reach inside the package;
// they live outside it to seed their corpora from netboxtest, which
// imports this package.

// FuzzPage is one list answer as list reads it.
type FuzzPage struct {
	Count   int
	More    bool // at offset 0
	Results []json.RawMessage
}

func ParsePageForTest(data []byte) (FuzzPage, error) {
	p, err := parsePage(data)
	if err != nil {
		return FuzzPage{}, err
	}
	return FuzzPage{Count: p.Count, More: p.more(0), Results: p.Results}, nil
}

// DecodePageForTest decodes a page's objects as list does: the objects
// and their ids, and what could not be decoded.
func DecodePageForTest[T any](raws []json.RawMessage) ([]T, []int, []*DecodeError) {
	d := decodePage[T]("/api/test/", raws)
	return d.items, d.ids, d.bad
}

func NewAPIErrorForTest(method, path string, status int, body []byte) *APIError {
	return newAPIError(method, path, status, body)
}

func RecordFieldsForTest(rec statemachine.Record) (map[string]any, error) { return recordFields(rec) }

func RecordFromFieldsForTest(cf CustomFields) statemachine.Record { return recordFromFields(cf) }
