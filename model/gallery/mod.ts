/**
 * The face gallery: named people with their embeddings, bound to the embedder that made them;
 * fast euclidean matching with face-api's threshold or closed-set (`none`) semantics;
 * enrollment from person folders or the course's labels CSV; and a safe importer for the
 * course's PyTorch `data.pt`.
 *
 * @example
 * ```ts
 * import { createGallery, matchEmbedding, readGallery, writeGallery } from "./model/gallery/mod.ts";
 *
 * const model = { modelId: "face-api/face_recognition@1.7.15", dims: 128 };
 * const result = await enrollFromFolders("people", embed);
 * await writeGallery("people.gallery", createGallery(model, result.enrolled));
 * const gallery = await readGallery("people.gallery", model);
 * matchEmbedding(gallery, embedding, { threshold: 0.6 }); // {label: "Paul", distance: 0.41}
 * ```
 * @module
 */
export * from "./errors.ts";
export * from "./gallery.ts";
export * from "./match.ts";
export * from "./labels_csv.ts";
export * from "./enroll.ts";
export * from "./torch_pickle.ts";
export * from "./import_torch.ts";
