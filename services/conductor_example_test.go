package services_test

import (
	"fmt"

	"github.com/osism/go-osism/services"
)

// The devices sync ironic registers come from NETBOX_FILTER_CONDUCTOR_IRONIC:
// a YAML list of NetBox filter mappings whose union is the device set.
func ExampleParseConductorFilters() {
	filters, err := services.ParseConductorFilters(`[{status: active, tag: [managed-by-ironic]}, {site: dc2, cf_ironic_enabled: true}]`)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(filters), filters[0]["status"], filters[1]["site"])
	_, err = services.ParseConductorFilters(`[{rack: r1}]`)
	fmt.Println(err)
	// Output:
	// 2 active dc2
	// NETBOX_FILTER_CONDUCTOR_IRONIC[0]: filter "rack": expected one of name, id, tag, role, site, status, q, cf_<custom field>
}
