// What a person copies to share an image. The upload page's script builds the same set for a
// fresh upload (links() in assets/upload.client.js); the browser test checks that the two agree.

export type ImageLinkInput = { id: string; filename: string; width: number | null; height: number | null };

export type ImageLinks = { page: string; file: string; thumbnail: string; markdown: string; html: string };

/** `base`: the absolute origin (and path) people reach chitram at (render.ts `publicBase`). */
export function imageLinks(base: string, image: ImageLinkInput): ImageLinks {
  const page = `${base}/images/${image.id}`;
  const file = `${base}/api/v1/images/${image.id}/file`;
  const size = image.width && image.height ? ` width="${image.width}" height="${image.height}"` : "";
  return {
    page,
    file,
    thumbnail: `${base}/api/v1/images/${image.id}/thumbnail`,
    markdown: `![${image.filename.replace(/[\\[\]]/g, "\\$&")}](${file})`,
    html: `<img src="${file}" alt="${escapeAttribute(image.filename)}"${size}>`,
  };
}

/** The delete link an uploader keeps: the token rides in the fragment, which browsers never send. */
export const deleteLink = (base: string, id: string, token: string) => `${base}/images/${id}/delete#${token}`;

const escapeAttribute = (s: string) => s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
