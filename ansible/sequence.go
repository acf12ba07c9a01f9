package ansible

import (
	"fmt"
	"strings"
)

// SequenceSeparator separates the roles of a sequence: a//b//c.
const SequenceSeparator = "//"

// ParseSequence splits a role sequence ROLE[//ROLE...] into its roles, in
// order. A single role is a sequence of one. An empty spec, or an empty
// role anywhere in it (a////b, a//, //a), is refused:
//
//	apply "a////b": expected ROLE or ROLE//ROLE..., with no empty role
func ParseSequence(spec string) ([]string, error) {
	roles := strings.Split(spec, SequenceSeparator)
	for _, r := range roles {
		if r == "" {
			return nil, fmt.Errorf("apply %q: expected ROLE or ROLE//ROLE..., with no empty role", spec)
		}
	}
	return roles, nil
}

// Step is one role of a sequence with the environment it runs in.
type Step struct {
	Role        string `json:"role"`
	Environment string `json:"environment"`
}

// Resolve gives every role of a sequence its environment, in order: env
// when it is not empty (it overrides the map for every role), else the
// map's environment of the role ([RoleMap.Environment]: EnvironmentCustom
// for a role the map does not know).
func (m *RoleMap) Resolve(roles []string, env string) []Step {
	steps := make([]Step, 0, len(roles))
	for _, r := range roles {
		e := env
		if e == "" {
			e = m.Environment(r)
		}
		steps = append(steps, Step{Role: r, Environment: e})
	}
	return steps
}
