import { inject } from 'vitest';
import type {} from '../../../../test-support/global-services.js';
import { describeSearchEngineStore } from './search-store-suite.js';

describeSearchEngineStore('opensearch', () => inject('openSearchUrl'));
