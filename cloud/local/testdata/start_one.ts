/**
 * A controller that lives briefly: creates and starts one instance, prints its id and exits
 * without stopping it, as a controller that crashes or restarts would.
 * Usage: start_one.ts <db path> <LocalFleetOptions as JSON>
 */
import { LocalFleet } from "../local_fleet.ts";

const [db, options] = Deno.args;
const fleet = await LocalFleet.open(db, { ...JSON.parse(options), output: "null" });
const [instance] = await fleet.create(1);
await fleet.start([instance.id]);
console.log(instance.id);
await fleet.close();
Deno.exit(0); // leave the worker running; Deno would otherwise wait for the child
