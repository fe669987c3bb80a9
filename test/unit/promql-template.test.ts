import { renderQuery, validateTemplate } from '../../src/adapters/metrics/query';

const vars = { track: 'canary', service: 'spark-api', version: 'v1.4.0', rate: '5m' };

describe('renderQuery', () => {
  it('fills $name and ${name} placeholders', () => {
    const template =
      'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{service="$service",track="${track}",version="$version"}[$rate])))';
    expect(renderQuery(template, vars)).toBe(
      'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{service="spark-api",track="canary",version="v1.4.0"}[5m])))',
    );
  });

  it('uses braces to end a name that letters would otherwise continue', () => {
    expect(renderQuery('${service}_errors_total $service_errors_total', { service: 'api', service_errors_total: 'x' })).toBe(
      'api_errors_total x',
    );
  });

  it('writes numbers as they print', () => {
    expect(renderQuery('up > $threshold', { threshold: 0.25 })).toBe('up > 0.25');
  });

  it('keeps $$ as one literal $ and leaves a regex anchor alone', () => {
    expect(renderQuery('x{path=~"/api/.*$"} and on() y{v="$$track"}', vars)).toBe('x{path=~"/api/.*$"} and on() y{v="$track"}');
  });

  it('throws naming every placeholder without a value', () => {
    expect(() => renderQuery('rate(x{track="$track",zone="$zone"}[${window}])', vars)).toThrow(
      'unknown query placeholder $zone, $window; known: $track, $service, $version, $rate',
    );
  });

  it('refuses a value that could break out of a quoted label matcher', () => {
    expect(() => renderQuery('x{version="$version"}', { version: 'v1"} or vector(1) or x{a="' })).toThrow(
      /query variable \$version has a quote/,
    );
  });

  it('throws on a malformed ${...}', () => {
    expect(() => renderQuery('x[${rate]', vars)).toThrow('unclosed placeholder "${" at offset 2');
    expect(() => renderQuery('x[${1m}]', vars)).toThrow('invalid placeholder "${1m}"');
  });
});

describe('validateTemplate', () => {
  const allowed = ['track', 'service', 'version', 'rate'];

  it('accepts a template that uses only allowed placeholders', () => {
    expect(validateTemplate('sum(rate(x{track="$track"}[${rate}]))', allowed)).toEqual([]);
  });

  it('reports each unknown placeholder once', () => {
    expect(validateTemplate('x{a="$zone"} / y{a="$zone", b="$region"}', allowed)).toEqual([
      'unknown query placeholder $zone; allowed: $track, $service, $version, $rate',
      'unknown query placeholder $region; allowed: $track, $service, $version, $rate',
    ]);
  });

  it('reports malformed placeholders and empty templates instead of throwing', () => {
    expect(validateTemplate('x[${rate', allowed)).toEqual(['unclosed placeholder "${" at offset 2 in query template']);
    expect(validateTemplate('  ', allowed)).toEqual(['query template is empty']);
  });
});
