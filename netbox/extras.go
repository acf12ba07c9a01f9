package netbox

import (
	"context"
	"fmt"
	"net/url"
)

const (
	pathTags         = "/api/extras/tags/"
	pathCustomFields = "/api/extras/custom-fields/"
)

// Tags lists all tags.
func (c *Client) Tags(ctx context.Context) ([]Tag, error) {
	ts, err := list[Tag](ctx, c, pathTags, url.Values{})
	if err != nil {
		return nil, fmt.Errorf("list tags: %w", err)
	}
	return ts, nil
}

// CustomField is what Check reads of a custom field definition.
type CustomField struct {
	ID          int      `json:"id"`
	Name        string   `json:"name"`
	Label       string   `json:"label"`
	Type        Choice   `json:"type"`
	ObjectTypes []string `json:"object_types"`
	Default     any      `json:"default"`
}

// CustomFields lists all custom field definitions.
func (c *Client) CustomFields(ctx context.Context) ([]CustomField, error) {
	fs, err := list[CustomField](ctx, c, pathCustomFields, url.Values{})
	if err != nil {
		return nil, fmt.Errorf("list custom fields: %w", err)
	}
	return fs, nil
}
