// Package lab runs `rsagent lab`: an emulated VPC (EC2 Query API on
// loopback) and an emulated Route Server (GoBGP endpoints with BFD that
// install best paths into the route tables), two real agents in an
// active/standby pair, and a series of faults, each timed from the fault to
// the route tables pointing at the surviving appliance.
//
// It needs no root and never contacts AWS: everything listens on
// 127.0.0.0/8 high ports, the agents get static credentials and the
// emulator's endpoint. Run is a library call so that benchmarks can use it.
// Only cmd/rsagent and tests import it.
package lab
