/** One message as the stream stores it: its subject, its stream sequence and its bytes (an envelope). */
export type StreamMessage = { readonly subject: string; readonly seq: number; readonly data: Uint8Array };
