package conformance_test

import (
	"fmt"
	"net/http"

	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/netbox/netboxtest/conformance"
)

// Start the double with the schema checker: every answer is validated, and SchemaViolations lists
// what did not conform (netboxtest.New fails the test at cleanup instead).
func Example() {
	s, err := netboxtest.Start(netboxtest.WithSampleFabric(), netboxtest.WithChecker(conformance.New()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	for _, path := range []string{"/api/dcim/devices/?brief=1", "/api/dcim/interfaces/?device=leaf-1", "/api/dcim/devices/999/"} {
		req, _ := http.NewRequest(http.MethodGet, s.URL()+path, nil)
		req.Header.Set("Authorization", "Token "+s.Token())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode, path)
	}
	fmt.Println(len(s.SchemaViolations()), "violations")
	// Output:
	// 200 /api/dcim/devices/?brief=1
	// 200 /api/dcim/interfaces/?device=leaf-1
	// 404 /api/dcim/devices/999/
	// 0 violations
}

// The checker on its own: an answer the schema does not allow is reported with the operation it
// was checked against.
func ExampleNew() {
	c := conformance.New()
	if err := c.Load(); err != nil {
		fmt.Println(err)
		return
	}
	status := netboxtest.Answer{Method: http.MethodGet, Template: "/api/status/", RequestURI: "/api/status/",
		Status: http.StatusAccepted, Body: []byte(`{}`)}
	msgs, op := c.Check(status)
	fmt.Println(op, msgs)

	notFound := netboxtest.Answer{Method: http.MethodGet, Template: "/api/dcim/devices/{id}/", RequestURI: "/api/dcim/devices/9/",
		Status: http.StatusNotFound, Body: []byte(`{"detail": 404}`), Kind: netboxtest.KindSchemaOf("dcim.device")}
	msgs, op = c.Check(notFound)
	fmt.Println(op, msgs)
	// Output:
	// status_retrieve [status 202 is not declared]
	// dcim_devices_retrieve [error "detail" must be the only key and a string]
}
