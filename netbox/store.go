package netbox

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/osism/go-osism/statemachine"
)

// Custom fields the state machine keeps its record in.
const (
	FieldDeviceState      = "device_state"
	FieldDeviceTransition = "device_transition"
)

// Store keeps the state machine's records in the custom fields
// device_state and device_transition, both written by one PATCH so that a
// reader never sees half a record. It caches device name -> id, so a Save
// after a Load costs one request.
type Store struct {
	c   *Client
	mu  sync.RWMutex
	ids map[string]int
}

var _ statemachine.Store = (*Store)(nil)

// NewStore returns a Store on c.
func NewStore(c *Client) *Store { return &Store{c: c, ids: map[string]int{}} }

// Load returns the device's record; null custom fields read as "".
func (s *Store) Load(ctx context.Context, device string) (statemachine.Record, error) {
	d, err := s.c.Device(ctx, device)
	if errors.Is(err, ErrNotFound) {
		return statemachine.Record{}, fmt.Errorf("load state of device %q: %w", device, errors.Join(statemachine.ErrDeviceNotFound, err))
	}
	if err != nil {
		return statemachine.Record{}, fmt.Errorf("load state of device %q: %w", device, err)
	}
	s.remember(device, d.ID)
	return statemachine.Record{
		State:      d.CustomFields.String(FieldDeviceState),
		Transition: d.CustomFields.String(FieldDeviceTransition),
	}, nil
}

// Save writes both fields of rec in one request.
func (s *Store) Save(ctx context.Context, device string, rec statemachine.Record) error {
	fields := map[string]any{FieldDeviceState: rec.State, FieldDeviceTransition: rec.Transition}
	id, cached, err := s.id(ctx, device)
	if err != nil {
		return fmt.Errorf("save state of device %q: %w", device, err)
	}
	err = s.c.UpdateDeviceCustomFields(ctx, id, fields)
	if cached && errors.Is(err, ErrNotFound) {
		// The device was deleted and perhaps created again under a new id.
		s.forget(device)
		if id, _, err = s.id(ctx, device); err != nil {
			return fmt.Errorf("save state of device %q: %w", device, err)
		}
		err = s.c.UpdateDeviceCustomFields(ctx, id, fields)
	}
	if err != nil {
		return fmt.Errorf("save state of device %q: %w", device, err)
	}
	return nil
}

func (s *Store) id(ctx context.Context, device string) (id int, cached bool, err error) {
	s.mu.RLock()
	id, ok := s.ids[device]
	s.mu.RUnlock()
	if ok {
		return id, true, nil
	}
	d, err := s.c.Device(ctx, device)
	if errors.Is(err, ErrNotFound) {
		return 0, false, errors.Join(statemachine.ErrDeviceNotFound, err)
	}
	if err != nil {
		return 0, false, err
	}
	s.remember(device, d.ID)
	return d.ID, false, nil
}

func (s *Store) remember(device string, id int) {
	s.mu.Lock()
	s.ids[device] = id
	s.mu.Unlock()
}

func (s *Store) forget(device string) {
	s.mu.Lock()
	delete(s.ids, device)
	s.mu.Unlock()
}
