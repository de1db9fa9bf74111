// Tests read response bodies of many shapes and assert on them field by field.
interface Response {
  json(): Promise<any>;
}
