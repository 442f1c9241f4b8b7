export { buildOnce, copyRuntimeDependencies, defaultCacheDir, mavenDependency, mavenPom, runMaven, writeMavenReactor } from './cache.js';
export { asNodeUser, freePorts, giveToNodeUser, linkTree, runningAsRoot, UNPRIVILEGED_ID } from './home.js';
export { type FindJavaOptions, findJava, javaMajor, jdkTool } from './java.js';
export { type JvmLaunch, type LocalSearchNode, type SupervisedNodeOptions, superviseNode } from './process.js';
