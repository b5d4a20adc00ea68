package vpcsim

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// BenchmarkReplaceRouteThroughTheSDK measures one signed ReplaceRoute round
// trip through the real SDK: the emulator must stay far below EC2's pacing
// (5 mutations/s) so that benchmarks of the reconciler measure the
// reconciler.
func BenchmarkReplaceRouteThroughTheSDK(b *testing.B) {
	v := NewVPC(testVPCID, prefix("10.0.0.0/16"))
	rtb := v.AddRouteTable()
	enis := []string{v.AddNetworkInterface(netip.MustParseAddr("10.0.1.10")), v.AddNetworkInterface(netip.MustParseAddr("10.0.2.10"))}
	if err := v.PutRoute(rtb, Route{Destination: prefix("203.0.113.10/32"), NetworkInterface: enis[0]}); err != nil {
		b.Fatal(err)
	}
	s := NewServer(v, Options{Mutating: Bucket{Size: -1}, NonMutating: Bucket{Size: -1}})
	if _, err := s.Start(); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c := EC2Client(s, noRetry)
	for i := 0; b.Loop(); i++ {
		if _, err := c.ReplaceRoute(b.Context(), &ec2.ReplaceRouteInput{RouteTableId: aws.String(rtb),
			DestinationCidrBlock: aws.String("203.0.113.10/32"), NetworkInterfaceId: aws.String(enis[i%2])}); err != nil {
			b.Fatal(err)
		}
	}
	perOp := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(perOp*1e3, "ms/request")
	b.Logf("goal: < 1 ms per request (EC2 paces mutations at 200 ms); measured %s", fmt.Sprintf("%.3f ms", perOp*1e3))
}
