// glossy ships no types: the part of its API devlogin uses.
declare module 'glossy' {
  interface ProduceOptions {
    type: 'RFC5424' | '5424' | 'BSD' | 'RFC3164';
    appName?: string;
    pid?: number | string;
    host?: string;
    facility?: string;
    severity?: string;
  }
  interface ProduceMessage {
    facility?: string;
    severity?: string;
    host?: string;
    appName?: string;
    pid?: number | string;
    msgID?: string;
    date?: Date;
    message: string;
    structuredData?: Record<string, Record<string, string>>;
  }
  export class Produce {
    constructor(options: ProduceOptions);
    produce(message: ProduceMessage): string;
  }
}
