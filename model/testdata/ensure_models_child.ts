/** Test child: calls ensureModels on FR_MODEL_DIR and prints whether it built. */
import { ensureModels } from "../build.ts";
import { modelDir } from "../model_store.ts";

const built = await ensureModels(modelDir(), { log: (line) => console.error(line) });
console.log(JSON.stringify({ built }));
