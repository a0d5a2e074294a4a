#include "collect/collect.hpp"
#include "driver/driver_probe.hpp"

namespace gpudoctor {

void collect_driver_probe(CollectContext& ctx) {
  auto& probe = ctx.snapshot.driver;
  switch (ctx.options.driver) {
    case DriverProbeMode::none:
      probe.mode = DriverProbeOrigin::none;
      probe.why_not = "the driver probe was turned off (--driver none)";
      return;
    case DriverProbeMode::automatic:
      if (!ctx.fs.is_host()) {
        probe.mode = DriverProbeOrigin::none;
        probe.why_not =
            "an inspected root is never loaded from; driver facts come from its files (--driver host "
            "probes this machine's driver instead)";
        return;
      }
      break;
    case DriverProbeMode::host:
      break;
  }
  probe = ctx.driver_probe != nullptr ? ctx.driver_probe->finish(ctx.options.driver_timeout)
                                      : probe_driver(ctx.options.driver_timeout);
}

}  // namespace gpudoctor
