package netbox

import (
	"strconv"
	"strings"
)

// cableLabel is upstream's "<pos>:<port> / [<rack>-]<pos>:<port>": the rack
// of the far end is named only when it differs from the near end's.
func cableLabel(near *Device, nearPort string, far *Device, farPort string) string {
	farEnd := position(far) + ":" + farPort
	if rackName(near) != rackName(far) {
		farEnd = rackName(far) + "-" + farEnd
	}
	return position(near) + ":" + nearPort + " / " + farEnd
}

func rackName(d *Device) string {
	if d.Rack == nil {
		return ""
	}
	return d.Rack.Name
}

// position prints 12.0 as "12" (upstream printed Python's "12.0").
func position(d *Device) string {
	if d.Position == nil {
		return ""
	}
	return strconv.FormatFloat(*d.Position, 'f', -1, 64)
}

// portOf shortens interface names the way upstream labels ports.
func portOf(name string) string {
	switch {
	case strings.HasPrefix(name, "Ethernet"):
		return strings.SplitN(name[len("Ethernet"):], "/", 2)[0]
	case strings.HasPrefix(name, "ether"):
		return name[len("ether"):]
	case strings.HasPrefix(name, "sfp-sfpplus"):
		return name[len("sfp-sfpplus"):]
	case strings.HasPrefix(name, "qsfp-qsfpplus"):
		return name[len("qsfp-qsfpplus"):]
	case strings.HasPrefix(name, "qsfpplus"):
		return name[len("qsfpplus"):]
	}
	return name
}
