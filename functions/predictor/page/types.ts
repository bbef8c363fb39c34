// Browser side: the v2 API documents the page reads and sends (the server's side is
// infer-v2.ts and model-repository.ts).
export interface ImageInput {
  kind: 'image';
  height: number;
  width: number;
  channels: number;
  framing: 'digit' | 'object';
}
export interface TokensInput {
  kind: 'tokens';
  sequenceLength: number;
}
export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: { name: string }[];
  parameters: {
    model?: string;
    dataset?: string;
    job_id: string;
    round: number;
    rounds: number;
    test_accuracy: number | null;
    labels: string[];
    input: ImageInput | TokensInput;
  };
}
export interface IndexEntry {
  name: string;
  state: string;
}
export interface InferTensor {
  name: string;
  shape: number[];
  datatype: 'FP32' | 'BYTES';
  data: (number | string)[];
}
export interface InferAnswer {
  id?: string;
  model_version: string;
  outputs: { data: number[] }[];
  error?: string;
}
