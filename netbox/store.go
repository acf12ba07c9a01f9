package netbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/osism/go-osism/internal/batch"
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

	// With batching: loads and saves of concurrent transitions share one
	// request each (a list by names, a bulk PATCH).
	loads *batch.Rounds[string, loaded]
	saves *batch.Rounds[int, error]
	smu   sync.Mutex
	queue map[int]map[string]any // device id -> fields of the next bulk PATCH
}

type loaded struct {
	rec statemachine.Record
	id  int
}

var _ statemachine.Store = (*Store)(nil)

// NewStore returns a Store on c: one request per Load and per Save.
func NewStore(c *Client) *Store { return &Store{c: c, ids: map[string]int{}} }

// NewBatchStore returns a Store on c for many transitions at once: loads
// that arrive while one is in flight go out together as one list by
// names, and saves as one bulk PATCH. Every Save still returns only once
// its record is written, so a transition resumes where it stopped.
func NewBatchStore(c *Client) *Store {
	s := NewStore(c)
	s.loads = batch.New(time.Minute, s.loadRound)
	s.saves = batch.New(time.Minute, s.saveRound)
	s.queue = map[int]map[string]any{}
	return s
}

// maxNamesPerList bounds the names of one list request (its URL length).
const maxNamesPerList = 50

func (s *Store) loadRound(ctx context.Context, names []string) (map[string]loaded, error) {
	out := make(map[string]loaded, len(names))
	for start := 0; start < len(names); start += maxNamesPerList {
		part := names[start:min(start+maxNamesPerList, len(names))]
		devs, err := s.c.Devices(ctx, DeviceFilter{Name: part})
		if err != nil {
			return nil, err
		}
		for _, d := range devs {
			s.remember(d.Name, d.ID)
			out[d.Name] = loaded{id: d.ID, rec: recordFromFields(d.CustomFields)}
		}
	}
	return out, nil
}

// saveRound writes every queued record with bulk PATCHes; when a bulk
// request fails, each device is written on its own so that one bad device
// does not fail the others.
func (s *Store) saveRound(ctx context.Context, ids []int) (map[int]error, error) {
	s.smu.Lock()
	updates := make(map[int]map[string]any, len(ids))
	for _, id := range ids {
		if f, ok := s.queue[id]; ok {
			updates[id] = f
			delete(s.queue, id)
		}
	}
	s.smu.Unlock()
	out := make(map[int]error, len(updates))
	if err := s.c.UpdateDevicesCustomFields(ctx, updates); err == nil {
		return out, nil
	}
	for id, f := range updates {
		out[id] = s.c.UpdateDeviceCustomFields(ctx, id, f)
	}
	return out, nil
}

// Load returns the device's record; null custom fields read as "".
func (s *Store) Load(ctx context.Context, device string) (statemachine.Record, error) {
	if s.loads != nil {
		res, err := s.loads.Do(ctx, device)
		if err != nil {
			return statemachine.Record{}, fmt.Errorf("load state of device %q: %w", device, err)
		}
		if res[0].id == 0 {
			return statemachine.Record{}, fmt.Errorf("load state of device %q: %w", device, errors.Join(statemachine.ErrDeviceNotFound, ErrNotFound))
		}
		return res[0].rec, nil
	}
	d, err := s.c.Device(ctx, device)
	if errors.Is(err, ErrNotFound) {
		return statemachine.Record{}, fmt.Errorf("load state of device %q: %w", device, errors.Join(statemachine.ErrDeviceNotFound, err))
	}
	if err != nil {
		return statemachine.Record{}, fmt.Errorf("load state of device %q: %w", device, err)
	}
	s.remember(device, d.ID)
	return recordFromFields(d.CustomFields), nil
}

// Save writes both fields of rec in one request.
func (s *Store) Save(ctx context.Context, device string, rec statemachine.Record) error {
	fields, err := recordFields(rec)
	if err != nil {
		return fmt.Errorf("save state of device %q: %w", device, err)
	}
	id, cached, err := s.id(ctx, device)
	if err != nil {
		return fmt.Errorf("save state of device %q: %w", device, err)
	}
	err = s.write(ctx, id, fields)
	if cached && errors.Is(err, ErrNotFound) {
		// The device was deleted and perhaps created again under a new id.
		s.forget(device)
		if id, _, err = s.id(ctx, device); err != nil {
			return fmt.Errorf("save state of device %q: %w", device, err)
		}
		err = s.write(ctx, id, fields)
	}
	if err != nil {
		return fmt.Errorf("save state of device %q: %w", device, err)
	}
	return nil
}

// recordFromFields reads a record from a device's custom fields; null and
// absent fields read as "".
func recordFromFields(cf CustomFields) statemachine.Record {
	return statemachine.Record{
		State:      cf.String(FieldDeviceState),
		Transition: cf.String(FieldDeviceTransition),
	}
}

// maxRecordField bounds a stored field: NetBox's text custom fields take
// any length, but a state or transition name is short.
const maxRecordField = 256

// recordFields is the custom-field PATCH of rec. A value that would not
// read back as written is refused: JSON would replace invalid UTF-8, and
// control characters have no place in a state's name.
func recordFields(rec statemachine.Record) (map[string]any, error) {
	for _, f := range []struct{ name, v string }{{FieldDeviceState, rec.State}, {FieldDeviceTransition, rec.Transition}} {
		switch {
		case len(f.v) > maxRecordField:
			return nil, fmt.Errorf("%s: %d bytes, want at most %d", f.name, len(f.v), maxRecordField)
		case !utf8.ValidString(f.v):
			return nil, fmt.Errorf("%s %q: not valid UTF-8", f.name, f.v)
		case strings.IndexFunc(f.v, unicode.IsControl) >= 0:
			return nil, fmt.Errorf("%s %q: control characters are not allowed", f.name, f.v)
		}
	}
	return map[string]any{FieldDeviceState: rec.State, FieldDeviceTransition: rec.Transition}, nil
}

// write sets the fields of device id: one request, or a place in the next
// bulk PATCH.
func (s *Store) write(ctx context.Context, id int, fields map[string]any) error {
	if s.saves == nil {
		return s.c.UpdateDeviceCustomFields(ctx, id, fields)
	}
	s.smu.Lock()
	s.queue[id] = fields
	s.smu.Unlock()
	res, err := s.saves.Do(ctx, id)
	if err != nil {
		return err
	}
	return res[0]
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
